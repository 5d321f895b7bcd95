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
//
// GEN_CALL=bind makes each call a bind() of a TCP socket to 127.0.0.1:47999
// (socket, SO_REUSEADDR, bind, close; only the bind is meant to be audited):
// an event with a SOCKADDR record, the kind the container watch inspects.
// GEN_CALL=exec makes each call a vfork and execve of /bin/true, waited for:
// an execve storm, events of seven records (SYSCALL, EXECVE, CWD, two PATH,
// PROCTITLE, EOE). GEN_PROCS=N runs N processes doing the same; the calls
// printed are their sum.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int bind_mode;
static int exec_mode;

static void call(void) {
  if (exec_mode) {
    static char* const args[] = {"true", NULL};
    static char* const env[] = {NULL};
    pid_t pid = vfork();
    if (pid == 0) {
      execve("/bin/true", args, env);
      _exit(127);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
    return;
  }
  if (!bind_mode) {
    syscall(SYS_getppid);
    return;
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(47999);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr*)&a, sizeof a);
  close(fd);
}

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
  const char* mode = getenv("GEN_CALL");
  bind_mode = mode != NULL && strcmp(mode, "bind") == 0;
  exec_mode = mode != NULL && strcmp(mode, "exec") == 0;
  const char* procs_env = getenv("GEN_PROCS");
  int procs = procs_env != NULL ? atoi(procs_env) : 1;
  if (procs < 1) procs = 1;
  long count = atol(argv[1]);
  double seconds = argc > 2 ? atof(argv[2]) : 0;
  double rate = argc > 3 ? atof(argv[3]) / procs : 0;
  // Each process counts into its own slot of a shared page; the first sums them.
  long* counts = mmap(NULL, sizeof(long) * (size_t)procs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (counts == MAP_FAILED) return 1;
  int slot = 0;
  for (int i = 1; i < procs; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      slot = i;
      break;
    }
  }
  if (count > 0) count = (count + procs - 1) / procs;
  double start = now(), end = start + seconds;
  long calls = 0;
  while (count == 0 || calls < count) {
    if (rate > 0) {
      // Catch up to where the rate says we should be, then sleep a millisecond.
      long due = (long)((now() - start) * rate);
      while (calls < due && (count == 0 || calls < count)) {
        call();
        calls++;
      }
      if (seconds > 0 && now() >= end) break;
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
      continue;
    }
    call();
    calls++;
    if (seconds > 0 && (calls & 255) == 0 && now() >= end) break;
  }
  counts[slot] = calls;
  if (slot != 0) return 0;
  while (wait(NULL) > 0) {
  }
  calls = 0;
  for (int i = 0; i < procs; i++) calls += counts[i];
  double took = now() - start;
  printf("calls=%ld seconds=%.3f rate=%.0f\n", calls, took, calls / took);
  return 0;
}
