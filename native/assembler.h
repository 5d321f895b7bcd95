// Records → events, on the reader thread. Records of one event share a serial
// and may interleave with other events' records. EOE ends an event; types the
// table marks single are events on their own; every other record waits,
// bounded by count (maxInFlight) and age (timeoutMs), so a missing EOE never
// holds memory or an event forever. The type table comes from lib/ (one place
// for what each record type means); log files, which have no EOE, are grouped
// by lib/assemble in TypeScript with the same table.
//
// Complete events are copied into a Batch: their records' text end to end,
// and an index JS reads without decoding anything (lib/subscribe/batch.ts):
//   [eventCount, recordCount, events (kEventWords each), records (kRecordWords each)]
//   event:  firstRecord, recordCount, serial, seconds, millis, flags,
//           keyOffset, keyLength (keyOffset 0xffffffff: no key), pid, ppid (0xffffffff: none),
//           cgroupOffset, cgroupLength, cgroupSource (cgroup.h; the text: distinct paths, one per line)
//   record: offset, length, type | flags << 16, bodyStart
// A key the kernel hex-encoded is decoded into the batch after the records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cgroup.h"
#include "record.h"

namespace la {

// A batch's block: the usual size, reused (see FreeBatchBlock). A batch is
// handed over before it fills, so that blocks keep this size.
constexpr size_t kBatchBytes = 256 * 1024;

constexpr uint32_t kEventWords = 13;
constexpr uint32_t kRecordWords = 4;
constexpr uint32_t kNone = 0xffffffffu;

// Event flags.
constexpr uint32_t kEventIncomplete = 1;  // handed out by a bound before its EOE
constexpr uint32_t kEventCut = 2;         // records beyond the per-event bound were left out
constexpr uint32_t kEventKeyPlain = 4;    // one key, ASCII: JS takes it as it is

// Record flags (the type word's high half).
constexpr uint32_t kRecordTruncated = 1;  // longer than a receive slot
constexpr uint32_t kRecordNotUtf8 = 2;
constexpr uint32_t kRecordNoHeader = 4;
constexpr uint32_t kRecordShort = 8;  // shorter than a netlink header

// What a record type means to assembly (the table lib/constants builds).
enum TypeClass : uint8_t {
  kWaits = 0,    // part of an event that ends with EOE or a bound
  kSingle = 1,   // an event on its own
  kExit = 2,     // written at syscall exit: its event always ends with EOE
  kEnd = 3,      // EOE
  kIgnored = 4,  // not a record (AUDIT_REPLACE's probe)
};

struct AssemblerOptions {
  uint32_t maxInFlight = 1000;
  uint64_t timeoutNs = 2000000000ull;
  uint32_t maxRecordsPerEvent = 8192;
  size_t maxEventBytes = 8u << 20;
  std::vector<uint8_t> typeClass;  // 65536 entries; empty: everything waits
  // Filters: an event passes when it has one of the keys (if any are given)
  // and one of the types (if any are given). Others are counted and dropped.
  std::vector<std::string> keys;
  std::vector<uint8_t> types;  // 65536 entries, 1 = wanted; empty: all
  // Read each event's cgroup when its first record naming a pid arrives (its
  // process may be gone soon after), from procRoot (/proc, or a host's /proc
  // seen from a container).
  bool cgroups = false;
  std::string procRoot = "/proc";
  // (audit arch, syscall number) of the execs: their process is read afresh,
  // not from the cache, since a runtime moves it into a container just before.
  std::vector<std::pair<uint32_t, uint32_t>> execSyscalls;
};

struct AssemblerStats {
  double records = 0;  // EOE included
  double events = 0;   // handed out (after filters)
  double filtered = 0; // events the filters left out
  double incomplete = 0;
  double strayEndOfEvent = 0;
  double serialGaps = 0;
  double malformed = 0;
  double recordsCut = 0;
  double cgroupReads = 0;   // /proc/<pid>/cgroup files read (the rest came from the cache)
  double cgroupParent = 0;  // events whose process was gone: its parent's cgroup read instead
  double cgroupGone = 0;    // events whose process and parent were both gone: container unknown
};

// One published unit: bytes in an mmap'd block (freed by munmap when JS lets
// go of it: see audit_socket.cc for why not malloc), and the index.
struct Batch {
  uint8_t* data = nullptr;
  size_t capacity = 0;
  size_t used = 0;
  uint32_t eventCount = 0;
  std::vector<uint32_t> events;
  std::vector<uint32_t> records;
  // The last cgroup text written, so that a process's next events share it.
  uint32_t lastCgroupOffset = kNone;
  uint32_t lastCgroupLength = 0;

  Batch() = default;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  Batch(Batch&& o) noexcept { *this = std::move(o); }
  Batch& operator=(Batch&& o) noexcept;
  ~Batch();
  bool Reserve(size_t bytes);  // false: out of memory
  // The index JS reads (layout above): IndexWords() words written to `out`.
  size_t IndexWords() const { return 2 + events.size() + records.size(); }
  void WriteIndex(uint32_t* out) const;
  uint8_t* Release();          // hand the block over (to a JS Buffer)
  bool empty() const { return eventCount == 0; }
};

void FreeBatchBlock(uint8_t* data, size_t capacity);
// Freed blocks are kept for reuse while a reader that holds the pool runs
// (each reader thread, from its start to its end); when the last lets go,
// they are unmapped.
void RetainBlockPool();
void ReleaseBlockPool();

class Assembler {
 public:
  explicit Assembler(AssemblerOptions options);
  ~Assembler();
  Assembler(const Assembler&) = delete;
  Assembler& operator=(const Assembler&) = delete;

  // One datagram as received (netlink header included; recordFlags may say it
  // was truncated), at `nowNs` on a monotonic clock. A reply to a request
  // carries the request's sequence number (never 0; the kernel's records carry
  // 0): that returns false, for the caller to route. A record is assembled;
  // complete events go into `out`.
  bool PushDatagram(const uint8_t* d, size_t length, uint32_t recordFlags, uint64_t nowNs, Batch& out);
  // One record: its nlmsg type and flags, the payload text.
  void Push(uint32_t type, uint32_t recordFlags, const uint8_t* text, size_t length, uint64_t nowNs, Batch& out);
  // Hand out events older than the timeout.
  void Expire(uint64_t nowNs, Batch& out);
  // Hand out everything still waiting (end of stream).
  void Flush(Batch& out);

  // Let go of descriptors held for reading (procRoot); reopened if reading resumes.
  void CloseFiles();
  // When the oldest waiting event will be too old (UINT64_MAX: none waits).
  uint64_t NextDeadline() const;
  size_t InFlight() const { return byKey_.size(); }
  // Whether each event's cgroup is read as its first record arrives.
  bool ReadsCgroups() const { return cgroups_ != nullptr; }
  const AssemblerStats& stats() const { return stats_; }

 private:
  struct Rec {
    uint32_t typeAndFlags;
    uint32_t start;  // in bytes
    uint32_t length;
    uint32_t bodyStart;
  };
  struct Pending {
    uint32_t serial = 0;
    uint64_t seconds = 0;
    uint32_t millis = 0;
    uint64_t since = 0;
    bool hasExit = false;
    bool cut = false;
    bool malformedAlone = false;
    // Found as records arrive: the first record that names them wins.
    int64_t pid = -1;
    int64_t ppid = -1;
    bool pidSeen = false;
    bool ppidSeen = false;
    // The key: from the first record that has one other than (null), at
    // [keyStart, keyStart + keyLength) in bytes, hex-encoded or not.
    bool keySeen = false;
    bool keyHex = false;
    uint32_t keyStart = 0;
    uint32_t keyLength = 0;
    CgroupSource cgroupSource = kCgroupNotAsked;
    std::string cgroup;
    std::string bytes;
    std::vector<Rec> recs;
    Pending* prev = nullptr;  // arrival order
    Pending* next = nullptr;
  };

  Pending* Acquire();
  void Retire(Pending* p);
  void Unlink(Pending* p);
  void Append(Pending* p, uint32_t typeAndFlags, const uint8_t* text, size_t length, size_t bodyStart);
  // pid, ppid and key from a record (one scan for all three), and the
  // process's cgroup read at once.
  void Learn(Pending* p, uint32_t type, const uint8_t* text, size_t length, size_t bodyStart, size_t start);
  void Emit(Pending* p, bool incomplete, Batch& out);
  bool Passes(const Pending* p, const uint8_t* key, size_t keyLen) const;
  void CountGap(uint32_t serial);
  static bool SameTime(const Pending* p, const Header& h);

  AssemblerOptions o_;
  AssemblerStats stats_;
  std::unique_ptr<CgroupReader> cgroups_;
  uint64_t now_ = 0;  // the time of the last record pushed
  std::unordered_map<uint32_t, Pending*> byKey_;
  Pending* oldest_ = nullptr;
  Pending* newest_ = nullptr;
  std::vector<Pending*> free_;
  int64_t lastSerial_ = -1;
  std::string keyScratch_;
};

}  // namespace la
