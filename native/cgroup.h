// The cgroup of an event's process, read on the reader thread as the event
// completes: a short-lived process (a program run from /tmp by `docker exec`)
// is often gone by the time JavaScript looks, and its parent is then a
// runtime's shim on the host. What is read here is what lib/enrich turns into
// a container; what cannot be read is said, never guessed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace la {

// Where the cgroup text of an event came from.
enum CgroupSource : uint32_t {
  kCgroupNotAsked = 0,
  kCgroupSelf = 1,    // the process's own, read now
  kCgroupParent = 2,         // the process was gone; its parent's, which says where it ran
  kCgroupGone = 3,           // neither could be read: unknown
  kCgroupRuntimeParent = 4,  // gone, and its parent is a container runtime's (runc, a shim,
                             // conmon …) on the host: the process may have run in a container, or not
};

struct CgroupAnswer {
  CgroupSource source = kCgroupNotAsked;
  const std::string* text = nullptr;  // distinct paths, one per line; valid until the next Read
};

class CgroupReader {
 public:
  explicit CgroupReader(std::string procRoot) : procRoot_(std::move(procRoot)) {}
  ~CgroupReader() { CloseDir(); }
  CgroupReader(const CgroupReader&) = delete;
  CgroupReader& operator=(const CgroupReader&) = delete;

  // The cgroup of `pid` (and its parent `ppid` when it is gone, or a zombie
  // whose cgroup no longer says where it ran). `fresh` skips the cache: an
  // exec is where a runtime's process has just been moved into a container.
  CgroupAnswer Read(uint32_t pid, int64_t ppid, bool fresh, uint64_t nowNs);

  // Files read under /proc: cgroup, and stat or comm when they were needed.
  uint64_t reads() const { return reads_; }

  // Close procRoot, opened at the first read: the socket's close() calls it,
  // so a closed subscription holds no descriptor until its object is collected.
  void CloseDir();

 private:
  struct Entry {
    std::string text;
    int64_t ppid;
    uint64_t at;
    int8_t runtime;  // whether its comm names a runtime: -1 until a child needs to know
  };
  // Reads /proc/<pid>/cgroup as distinct paths; false when it is gone or a zombie.
  bool ReadOne(uint32_t pid, std::string* out);
  // Whether /proc/<pid>/comm names a container runtime's process.
  bool IsRuntime(uint32_t pid);

  // Reads `<procRoot>/<pid>/<file>` into buf; false when it cannot be opened or read.
  bool ReadProc(uint32_t pid, const char* file, char* buf, size_t cap, size_t* got);

  std::string procRoot_;
  int procFd_ = -1;  // procRoot, opened once: each read then walks two names, not the whole path
  std::unordered_map<uint32_t, Entry> cache_;
  std::string scratch_;
  uint64_t reads_ = 0;
};

}  // namespace la
