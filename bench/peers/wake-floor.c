// What this machine charges a thread for being woken, and for a system call:
// the floor under every per-event CPU figure at low rates, where each reader
// (ours, the minimal one, auditd) is woken once per event or per batch.
//
//   wake-floor INTERVAL_US:COUNT ...   sleeps COUNT times for INTERVAL_US each;
//                                      prints the thread's CPU time per wake-up
//   wake-floor syscall COUNT           COUNT getpid() system calls; ns per call
//
// CPU time is the kernel's own account of the thread (schedstat, to the
// nanosecond): what the benchmark's consumers are charged in the same way.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long thread_cpu_ns(void) {
  FILE* f = fopen("/proc/thread-self/schedstat", "r");
  long long ns = -1;
  if (f == NULL || fscanf(f, "%lld", &ns) != 1) {
    perror("/proc/thread-self/schedstat");
    exit(1);
  }
  fclose(f);
  return ns;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "syscall") == 0) {
    long count = atol(argv[2]);
    double start = now_ns();
    // syscall(), not getpid(): glibc must not answer from a cache.
    for (long i = 0; i < count; i++) syscall(SYS_getpid);
    printf("syscall ns=%.1f\n", (now_ns() - start) / count);
    return 0;
  }
  for (int a = 1; a < argc; a++) {
    long us = 0, count = 0;
    if (sscanf(argv[a], "%ld:%ld", &us, &count) != 2 || us <= 0 || count <= 0) {
      fprintf(stderr, "wake-floor: want INTERVAL_US:COUNT, not %s\n", argv[a]);
      return 2;
    }
    struct timespec pause = {us / 1000000, (us % 1000000) * 1000};
    long long before = thread_cpu_ns();
    for (long i = 0; i < count; i++) nanosleep(&pause, NULL);
    printf("interval_us=%ld wake ns=%.0f\n", us, (double)(thread_cpu_ns() - before) / count);
  }
  return 0;
}
