// The physical limit for a consumer: registers as the audit daemon and
// receives with recvmmsg into fixed buffers, counting records and doing
// nothing else. Runs until SIGTERM or SIGINT, then prints
//   records=N bytes=N enobufs=N cpu=S maxrss_kb=N
// It unregisters before it exits: the kernel keeps a dead daemon's pid until a
// record fails to reach it.
//
// MIN_READER_LOOP=1 or 2 gives it our native reader's loop, without assembly
// or JS, to tell what the loop's shape costs: 1 polls, then drains without
// waiting; 2 also sleeps 250 µs after the first drain and drains again (the
// gathering). 0, the default, is the minimal reader: recvmmsg waiting for one.
//
// MIN_READER_CGROUPS=1 makes it the least a container-aware reader can do
// without eBPF: for each x86_64 execve or execveat record, open and read
// /proc/<pid>/cgroup once (the process has just been moved into its cgroup,
// so no cache can answer), and nothing else: no parsing of what it read, no
// parent when the process is gone. The exec storm's floor for us.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>

#define SLOTS 64
#define SLOT_BYTES 16384

static volatile sig_atomic_t stop;
static long cgroupReads, cgroupGone;

/** The value of ` name=` in a NUL-terminated record as a decimal number, or -1. */
static long field(const char* text, const char* name) {
  const char* at = strstr(text, name);
  if (at == NULL) return -1;
  at += strlen(name);
  if (*at < '0' || *at > '9') return -1;
  return strtol(at, NULL, 10);
}

/** A SYSCALL record of an x86_64 exec: its process's cgroup file, read whole. */
static void read_cgroup(int procfd, char* text) {
  if (strstr(text, " arch=c000003e ") == NULL) return;
  long nr = field(text, " syscall=");
  if (nr != 59 && nr != 322) return;
  long pid = field(text, " pid=");
  if (pid <= 0) return;
  char rel[32], buf[8192];
  snprintf(rel, sizeof rel, "%ld/cgroup", pid);
  cgroupReads++;
  int fd = openat(procfd, rel, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, sizeof buf) <= 0) cgroupGone++;
  if (fd >= 0) close(fd);
}
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

struct set_pid_request {
  struct nlmsghdr h;
  struct audit_status s;
};

/** AUDIT_SET pid, waiting for the kernel's answer (records may come first). */
static int set_pid(int fd, struct set_pid_request* req, struct sockaddr_nl* kernel, int pid) {
  req->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req->h.nlmsg_seq++;
  req->s.pid = pid;
  if (sendto(fd, req, sizeof *req, 0, (struct sockaddr*)kernel, sizeof *kernel) < 0) {
    perror("AUDIT_SET pid");
    return -1;
  }
  static char buf[SLOT_BYTES];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == ENOBUFS) continue;
      perror("AUDIT_SET pid: waiting for the answer");
      return -1;
    }
    struct nlmsghdr* h = (struct nlmsghdr*)buf;
    if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == req->h.nlmsg_seq) {
      int err = ((struct nlmsgerr*)NLMSG_DATA(h))->error;
      if (err != 0) fprintf(stderr, "min-reader: AUDIT_SET pid=%d: %s\n", pid, strerror(-err));
      return err;
    }
  }
}

int main(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr*)&local, sizeof local) < 0) {
    perror("bind");
    return 1;
  }
  int rcvbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);

  struct set_pid_request req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = AUDIT_SET;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.s.mask = AUDIT_STATUS_PID;
  req.s.pid = getpid();
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (set_pid(fd, &req, &kernel, getpid()) != 0) return 1;

  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  // A receive timeout so a signal between two batches is seen promptly.
  struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  static char bufs[SLOTS][SLOT_BYTES];
  struct iovec iov[SLOTS];
  struct mmsghdr msgs[SLOTS];
  for (int i = 0; i < SLOTS; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = SLOT_BYTES;
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  fprintf(stderr, "min-reader: registered as pid %d\n", getpid());
  long records = 0, bytes = 0, enobufs = 0;
  const char* loopEnv = getenv("MIN_READER_LOOP");
  int loop = loopEnv ? atoi(loopEnv) : 0;
  const char* cgroupsEnv = getenv("MIN_READER_CGROUPS");
  int procfd = cgroupsEnv && atoi(cgroupsEnv) ? open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  while (!stop) {
    if (loop > 0) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, 200) <= 0) continue;
    }
    for (int round = 0; round < (loop == 2 ? 2 : 1); round++) {
      if (round == 1) {
        struct timespec gather = {0, 250000};
        nanosleep(&gather, NULL);
      }
      for (;;) {
        int n = recvmmsg(fd, msgs, SLOTS, loop > 0 ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
        if (n < 0) {
          if (errno == ENOBUFS) {
            enobufs++;
            if (loop > 0) continue;
          } else if (errno != EINTR && errno != EAGAIN) {
            perror("recvmmsg");
            stop = 1;
          }
          break;
        }
        for (int i = 0; i < n; i++) {
          struct nlmsghdr* h = (struct nlmsghdr*)bufs[i];
          if (msgs[i].msg_len >= sizeof *h && h->nlmsg_type >= AUDIT_FIRST_USER_MSG) records++;
          if (procfd >= 0 && h->nlmsg_type == AUDIT_SYSCALL && msgs[i].msg_len > sizeof *h && msgs[i].msg_len < SLOT_BYTES) {
            bufs[i][msgs[i].msg_len] = 0;
            read_cgroup(procfd, bufs[i] + sizeof *h);
          }
          bytes += msgs[i].msg_len;
        }
        if (loop == 0 || n < SLOTS) break;
      }
    }
  }
  tv.tv_sec = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  set_pid(fd, &req, &kernel, 0);
  close(fd);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  // Peak RSS from VmHWM: ru_maxrss would include the parent's image before exec.
  long hwm = -1;
  FILE* status = fopen("/proc/self/status", "r");
  char line[256];
  while (status && fgets(line, sizeof line, status)) {
    if (sscanf(line, "VmHWM: %ld kB", &hwm) == 1) break;
  }
  if (status) fclose(status);
  printf("records=%ld bytes=%ld enobufs=%ld cpu=%.3f maxrss_kb=%ld cgroup_reads=%ld cgroup_gone=%ld\n", records, bytes, enobufs, cpu, hwm, cgroupReads, cgroupGone);
  return 0;
}
