// Audited-syscall load generator for the benchmark and the live tests.
//
//   syscall-gen COUNT [SECONDS [RATE]]
//
// Calls getppid() COUNT times (0 = no limit) or for SECONDS, as fast as it can
// or at RATE calls per second (paced in 1 ms steps), then prints
// "calls=N seconds=S rate=R" to stdout. getppid is cheap and never
// fails, so the cost measured is the audit path's, and a rule such as
//   -a always,exit -F arch=b64 -S getppid -F ppid=<parent> -k gen
// matches exactly these calls.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s COUNT [SECONDS [RATE]]\n", argv[0]);
    return 2;
  }
  long count = atol(argv[1]);
  double seconds = argc > 2 ? atof(argv[2]) : 0;
  double rate = argc > 3 ? atof(argv[3]) : 0;
  double start = now(), end = start + seconds;
  long calls = 0;
  while (count == 0 || calls < count) {
    if (rate > 0) {
      // Catch up to where the rate says we should be, then sleep a millisecond.
      long due = (long)((now() - start) * rate);
      while (calls < due && (count == 0 || calls < count)) {
        syscall(SYS_getppid);
        calls++;
      }
      if (seconds > 0 && now() >= end) break;
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
      continue;
    }
    syscall(SYS_getppid);
    calls++;
    if (seconds > 0 && (calls & 255) == 0 && now() >= end) break;
  }
  double took = now() - start;
  printf("calls=%ld seconds=%.3f rate=%.0f\n", calls, took, calls / took);
  return 0;
}
