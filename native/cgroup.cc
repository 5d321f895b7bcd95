#include "cgroup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace la {

namespace {

// A process's cgroup is trusted this long for its next events: a busy
// process costs one small read per interval, not one per event. An exec is
// read afresh whatever the age (see Read).
constexpr uint64_t kTrustNs = 100 * 1000 * 1000ull;
constexpr size_t kMaxEntries = 4096;

}  // namespace

void CgroupReader::CloseDir() {
  if (procFd_ >= 0) ::close(procFd_);
  procFd_ = -1;
}

// Every event of a new process pays for this (about 8 µs on the test VM, most
// of it the kernel's open of a /proc file), so: one open relative to procRoot,
// and one read: a /proc file comes whole in one read when it fits, so a
// short read is its end.
bool CgroupReader::ReadProc(uint32_t pid, const char* file, char* buf, size_t cap, size_t* got) {
  if (procFd_ < 0) procFd_ = ::open(procRoot_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procFd_ < 0) return false;
  reads_++;
  char rel[32];
  std::snprintf(rel, sizeof rel, "%u/%s", pid, file);
  int fd = ::openat(procFd_, rel, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t n = 0;
  while (n < cap) {
    const size_t want = cap - n;
    ssize_t r = ::read(fd, buf + n, want);
    if (r < 0) {
      ::close(fd);
      return false;
    }
    n += static_cast<size_t>(r);
    if (static_cast<size_t>(r) < want) break;
  }
  ::close(fd);
  *got = n;
  return true;
}

bool CgroupReader::ReadOne(uint32_t pid, std::string* out) {
  char buf[8192];
  size_t n = 0;
  if (!ReadProc(pid, "cgroup", buf, sizeof buf, &n)) return false;
  // "hierarchy:controllers:path" per line; runtimes put a container's
  // processes at the same path in every hierarchy, so the distinct paths say
  // all there is, in a few bytes.
  out->clear();
  bool onlyRoot = true;
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    while (end < n && buf[end] != '\n') end++;
    const char* first = static_cast<const char*>(std::memchr(buf + i, ':', end - i));
    const char* second = first ? static_cast<const char*>(std::memchr(first + 1, ':', buf + end - (first + 1))) : nullptr;
    if (second != nullptr) {
      std::string path(second + 1, static_cast<size_t>(buf + end - (second + 1)));
      if (path != "/") onlyRoot = false;
      bool seen = false;
      for (size_t s = 0; s < out->size();) {
        size_t e = out->find('\n', s);
        if (e == std::string::npos) e = out->size();
        if (out->compare(s, e - s, path) == 0) {
          seen = true;
          break;
        }
        s = e + 1;
      }
      if (!seen) {
        if (!out->empty()) out->push_back('\n');
        out->append(path);
      }
    }
    i = end + 1;
  }
  if (out->empty()) return false;
  // An exited process that its parent has not reaped yet reads "/" in every
  // cgroup v1 hierarchy: that is not where it ran. Only a zombie is doubted.
  if (onlyRoot) {
    char stat[512];
    size_t m = 0;
    if (!ReadProc(pid, "stat", stat, sizeof stat - 1, &m)) return false;
    stat[m] = 0;
    const char* close = std::strrchr(stat, ')');
    if (close == nullptr || close[1] != ' ' || close[2] == 'Z' || close[2] == 'X') return false;
  }
  return true;
}

bool CgroupReader::IsRuntime(uint32_t pid) {
  char comm[64];
  size_t n = 0;
  if (!ReadProc(pid, "comm", comm, sizeof comm - 1, &n)) return true;  // gone: cannot say
  comm[n] = 0;
  static const char* const kRuntimes[] = {"runc", "crun", "youki", "runsc", "containerd-shim", "conmon", "lxc-", "systemd-nspawn", "docker-init"};
  for (const char* r : kRuntimes)
    if (std::strncmp(comm, r, std::strlen(r)) == 0) return true;
  return false;
}

CgroupAnswer CgroupReader::Read(uint32_t pid, int64_t ppid, bool fresh, uint64_t nowNs) {
  CgroupAnswer a;
  auto it = cache_.find(pid);
  if (!fresh && it != cache_.end() && it->second.ppid == ppid && nowNs - it->second.at < kTrustNs) {
    a.source = kCgroupSelf;
    a.text = &it->second.text;
    return a;
  }
  if (ReadOne(pid, &scratch_)) {
    if (cache_.size() >= kMaxEntries) cache_.clear();
    Entry& e = cache_[pid];
    e.text.swap(scratch_);
    e.ppid = ppid;
    e.at = nowNs;
    e.runtime = -1;
    a.source = kCgroupSelf;
    a.text = &e.text;
    return a;
  }
  if (it != cache_.end()) cache_.erase(pid);
  // Gone (or a zombie): a child is where its parent put it, unless the
  // parent is a container runtime's process on the host (runc, a shim,
  // conmon): those start processes in containers (`docker exec`), so their
  // child may have run in one, or not. lib/ calls that unknown. The parent
  // is usually long-lived and the same for many children (a shell, a build,
  // a shim): its cgroup and whether it is a runtime come from the cache, as
  // its own events' do.
  if (ppid > 0) {
    const uint32_t parent = static_cast<uint32_t>(ppid);
    auto pit = cache_.find(parent);
    if (pit == cache_.end() || nowNs - pit->second.at >= kTrustNs) {
      if (!ReadOne(parent, &scratch_)) {
        a.source = kCgroupGone;
        return a;
      }
      if (cache_.size() >= kMaxEntries) cache_.clear();
      Entry& e = cache_[parent];
      e.text.swap(scratch_);
      e.ppid = -1;  // not known here: the parent's own next event reads afresh
      e.at = nowNs;
      e.runtime = -1;
      pit = cache_.find(parent);
    }
    Entry& p = pit->second;
    if (p.runtime < 0) p.runtime = IsRuntime(parent) ? 1 : 0;
    a.source = p.runtime ? kCgroupRuntimeParent : kCgroupParent;
    a.text = &p.text;
    return a;
  }
  a.source = kCgroupGone;
  return a;
}

}  // namespace la
