#include "assembler.h"

#include <sys/mman.h>

#include <cstring>
#include <mutex>
#include <new>

#include "record.h"

namespace la {

namespace {

constexpr size_t kPage = 4096;
constexpr uint16_t kNlmsgError = 2;
constexpr uint32_t kSyscallType = 1300;  // AUDIT_SYSCALL
constexpr uint16_t kNlmsgDone = 3;

size_t RoundUp(size_t n) { return (n + kPage - 1) & ~(kPage - 1); }

// True when every byte is ASCII: eight at a time, as kernel text almost always is.
bool IsAscii(const uint8_t* s, size_t n) {
  size_t i = 0;
  uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    acc |= w;
  }
  for (; i < n; i++) acc |= s[i];
  return (acc & 0x8080808080808080ull) == 0;
}

}  // namespace

// Blocks of the usual size come back here when JS lets go of them and are
// written again: a fresh mapping costs a page fault and a zeroed page per 4
// KiB on the reader thread, and unmapping one the reader touched costs a TLB
// shootdown. Blocks JS held come back when V8 collects their Buffers, many
// at one scavenge, so the pool covers what a reader at full rate hands out
// between two (docs/architecture.md: a consumer of batches, which allocates
// little): up to 64 (16 MiB), only while a reader runs; when the last one
// stops they are unmapped.
namespace {
std::mutex poolMutex;
std::vector<uint8_t*> pool;
constexpr size_t kPoolBlocks = 64;
size_t poolUsers = 0;
}  // namespace

void RetainBlockPool() {
  std::lock_guard<std::mutex> lock(poolMutex);
  poolUsers++;
}

void ReleaseBlockPool() {
  std::lock_guard<std::mutex> lock(poolMutex);
  if (--poolUsers > 0) return;
  for (uint8_t* d : pool) ::munmap(d, kBatchBytes);
  pool.clear();
}

static uint8_t* MapBlock(size_t capacity) {
  if (capacity == kBatchBytes) {
    std::lock_guard<std::mutex> lock(poolMutex);
    if (!pool.empty()) {
      uint8_t* d = pool.back();
      pool.pop_back();
      return d;
    }
  }
  void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

void FreeBatchBlock(uint8_t* data, size_t capacity) {
  if (data == nullptr) return;
  if (capacity == kBatchBytes) {
    std::lock_guard<std::mutex> lock(poolMutex);
    if (poolUsers > 0 && pool.size() < kPoolBlocks) {
      pool.push_back(data);
      return;
    }
  }
  ::munmap(data, capacity);
}

Batch& Batch::operator=(Batch&& o) noexcept {
  if (this != &o) {
    FreeBatchBlock(data, capacity);
    data = o.data;
    capacity = o.capacity;
    used = o.used;
    eventCount = o.eventCount;
    events = std::move(o.events);
    records = std::move(o.records);
    lastCgroupOffset = o.lastCgroupOffset;
    lastCgroupLength = o.lastCgroupLength;
    o.data = nullptr;
    o.capacity = 0;
    o.used = 0;
    o.eventCount = 0;
    o.events.clear();
    o.records.clear();
    o.lastCgroupOffset = kNone;
    o.lastCgroupLength = 0;
  }
  return *this;
}

Batch::~Batch() { FreeBatchBlock(data, capacity); }

// Blocks are mapped, not malloc'd: V8's finalizers free them out of order, and
// glibc (which raises its mmap threshold to the size of the first large block
// freed) would serve later ones from the reader thread's arena and keep the
// pages: RSS crept under sustained load. A block JS has not seen yet may move
// (mremap) when an event needs more room.
bool Batch::Reserve(size_t bytes) {
  if (data != nullptr && capacity - used >= bytes) return true;
  size_t want = RoundUp(used + bytes);
  if (data == nullptr) {
    size_t cap = want > kBatchBytes ? want : kBatchBytes;
    data = MapBlock(cap);
    if (data == nullptr) return false;
    capacity = cap;
    return true;
  }
  size_t cap = capacity * 2 > want ? capacity * 2 : want;
  void* p = ::mremap(data, capacity, cap, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) return false;
  data = static_cast<uint8_t*>(p);
  capacity = cap;
  return true;
}

void Batch::WriteIndex(uint32_t* out) const {
  out[0] = eventCount;
  out[1] = static_cast<uint32_t>(records.size() / kRecordWords);
  std::memcpy(out + 2, events.data(), events.size() * sizeof(uint32_t));
  std::memcpy(out + 2 + events.size(), records.data(), records.size() * sizeof(uint32_t));
}

uint8_t* Batch::Release() {
  uint8_t* d = data;
  data = nullptr;
  capacity = 0;
  used = 0;
  eventCount = 0;
  events.clear();
  records.clear();
  lastCgroupOffset = kNone;
  lastCgroupLength = 0;
  return d;
}

Assembler::Assembler(AssemblerOptions options) : o_(std::move(options)) {
  if (o_.maxInFlight < 1) o_.maxInFlight = 1;
  if (o_.maxRecordsPerEvent < 1) o_.maxRecordsPerEvent = 1;
  byKey_.reserve(o_.maxInFlight * 2);
  if (o_.cgroups) cgroups_ = std::make_unique<CgroupReader>(o_.procRoot);
}

Assembler::~Assembler() {
  for (auto& kv : byKey_) delete kv.second;
  for (Pending* p : free_) delete p;
}

Assembler::Pending* Assembler::Acquire() {
  Pending* p;
  if (!free_.empty()) {
    p = free_.back();
    free_.pop_back();
  } else {
    p = new Pending();
  }
  p->bytes.clear();
  p->recs.clear();
  p->pid = p->ppid = -1;
  p->pidSeen = p->ppidSeen = p->keySeen = false;
  p->cgroupSource = kCgroupNotAsked;
  p->cgroup.clear();
  p->hasExit = false;
  p->cut = false;
  p->malformedAlone = false;
  p->prev = p->next = nullptr;
  return p;
}

// Reused, so their buffers' capacity serves the next events; a few are kept.
void Assembler::Retire(Pending* p) {
  if (free_.size() < 64 && p->bytes.capacity() <= (64u << 10)) {
    free_.push_back(p);
  } else {
    delete p;
  }
}

void Assembler::Unlink(Pending* p) {
  if (p->prev) p->prev->next = p->next;
  else oldest_ = p->next;
  if (p->next) p->next->prev = p->prev;
  else newest_ = p->prev;
  p->prev = p->next = nullptr;
}

void Assembler::Append(Pending* p, uint32_t typeAndFlags, const uint8_t* text, size_t length, size_t bodyStart) {
  if (p->recs.size() >= o_.maxRecordsPerEvent || p->bytes.size() + length > o_.maxEventBytes) {
    p->cut = true;
    stats_.recordsCut++;
    return;
  }
  size_t start = p->bytes.size();
  p->recs.push_back(Rec{typeAndFlags, static_cast<uint32_t>(start), static_cast<uint32_t>(length), static_cast<uint32_t>(bodyStart)});
  p->bytes.append(reinterpret_cast<const char*>(text), length);
  if (!p->pidSeen || !p->ppidSeen || !p->keySeen) Learn(p, typeAndFlags & 0xffff, text, length, bodyStart, start);
}

// One scan of the record for everything still unknown: the SYSCALL record
// names ppid and pid in its middle and the key at its end, and scanning it
// once for the one and again for the other was most of the reader thread's
// own time per event at full rate.
void Assembler::Learn(Pending* p, uint32_t type, const uint8_t* text, size_t length, size_t bodyStart, size_t start) {
  Wanted wanted[5] = {{"pid", 3, {}}, {"ppid", 4, {}}, {"key", 3, {}}, {"arch", 4, {}}, {"syscall", 7, {}}};
  // Only what is still unknown is looked for (found counts as known).
  wanted[0].value.found = p->pidSeen;
  wanted[1].value.found = p->ppidSeen;
  wanted[2].value.found = p->keySeen;
  bool isSyscall = type == kSyscallType && cgroups_ != nullptr && !o_.execSyscalls.empty();
  wanted[3].value.found = wanted[4].value.found = !isSyscall;
  FindFields(text, bodyStart, length, wanted, 5);
  // A record's key=(null) says its rule had none: a later record's counts,
  // as lib/assemble/event.ts reads it.
  const Value& k = wanted[2].value;
  if (!p->keySeen && k.found && !(k.quote == 0 && k.end - k.start == 6 && std::memcmp(text + k.start, "(null)", 6) == 0)) {
    p->keySeen = true;
    p->keyHex = IsEncodedHex(text, k);
    p->keyStart = static_cast<uint32_t>(start + k.start);
    p->keyLength = static_cast<uint32_t>(k.end - k.start);
  }
  bool hadPid = p->pidSeen;
  if (!p->pidSeen && wanted[0].value.found) {
    int64_t n = ParseDecimal(text, wanted[0].value);
    if (n >= 0) {
      p->pid = n;
      p->pidSeen = true;
    }
  }
  if (!p->ppidSeen && wanted[1].value.found && wanted[1].value.end > wanted[1].value.start) {
    p->ppid = ParseDecimal(text, wanted[1].value);
    p->ppidSeen = true;
  }
  if (cgroups_ == nullptr || hadPid || !p->pidSeen) return;
  // The process is named for the first time: where it runs, now.
  bool exec = false;
  if (isSyscall && wanted[3].value.found && wanted[4].value.found) {
    uint64_t arch = 0;
    for (size_t i = wanted[3].value.start; i < wanted[3].value.end; i++) {
      int d = HexDigit(text[i] >= 'a' && text[i] <= 'f' ? static_cast<uint8_t>(text[i] - 32) : text[i]);
      if (d < 0) break;
      arch = arch << 4 | static_cast<uint64_t>(d);
    }
    int64_t nr = ParseDecimal(text, wanted[4].value);
    for (const auto& e : o_.execSyscalls) exec = exec || (e.first == arch && static_cast<int64_t>(e.second) == nr);
  }
  uint64_t before = cgroups_->reads();
  CgroupAnswer cg = cgroups_->Read(static_cast<uint32_t>(p->pid), p->ppid, exec, now_);
  stats_.cgroupReads += static_cast<double>(cgroups_->reads() - before);
  if (cg.source == kCgroupParent || cg.source == kCgroupRuntimeParent) stats_.cgroupParent++;
  if (cg.source == kCgroupGone) stats_.cgroupGone++;
  p->cgroupSource = cg.source;
  if (cg.text != nullptr) p->cgroup = *cg.text;
}

bool Assembler::SameTime(const Pending* p, const Header& h) {
  return p->seconds == h.seconds && p->millis == h.millis;
}

void Assembler::CountGap(uint32_t serial) {
  if (lastSerial_ >= 0) {
    uint32_t ahead = serial - static_cast<uint32_t>(lastSerial_);
    if (ahead == 0 || ahead >= 0x80000000u) return;  // same or older
    stats_.serialGaps += ahead - 1;
  }
  lastSerial_ = serial;
}

bool Assembler::PushDatagram(const uint8_t* d, size_t length, uint32_t recordFlags, uint64_t nowNs, Batch& out) {
  if (length < 16) {
    Push(0, recordFlags | kRecordShort, d, length, nowNs, out);
    return true;
  }
  // nlmsghdr in host order: len, type, flags, seq, pid. nlmsg_len is not
  // trusted (the kernel sets it to the payload's length on unicast): the
  // datagram's length frames the record.
  uint16_t type;
  uint32_t seq;
  std::memcpy(&type, d + 4, sizeof type);
  std::memcpy(&seq, d + 8, sizeof seq);
  if (seq != 0 || type == kNlmsgError || type == kNlmsgDone) return false;
  Push(type, recordFlags, d + 16, length - 16, nowNs, out);
  return true;
}

void Assembler::Push(uint32_t type, uint32_t recordFlags, const uint8_t* text, size_t length, uint64_t nowNs, Batch& out) {
  uint8_t cls = o_.typeClass.empty() ? static_cast<uint8_t>(kWaits) : o_.typeClass[type & 0xffff];
  if (cls == kIgnored) return;
  now_ = nowNs;
  stats_.records++;
  // The kernel does not NUL-terminate audit text, but padding may trail it.
  while (length > 0 && text[length - 1] == 0) length--;
  Header h{};
  bool headed = (recordFlags & kRecordShort) == 0 && ParseHeader(text, length, &h) && h.seconds <= 0xffffffffu;
  if (cls == kEnd && headed) {
    auto it = byKey_.find(h.serial);
    if (it == byKey_.end() || !SameTime(it->second, h)) {
      stats_.strayEndOfEvent++;
      return;
    }
    Pending* p = it->second;
    byKey_.erase(it);
    Unlink(p);
    Emit(p, false, out);
    return;
  }
  if (!IsAscii(text, length) && !IsUtf8(text, length)) recordFlags |= kRecordNotUtf8;
  if (!headed) recordFlags |= kRecordNoHeader;
  if (recordFlags != 0) stats_.malformed++;
  uint32_t typeAndFlags = (type & 0xffff) | recordFlags << 16;
  if (!headed) {
    // Nothing to group it by: an event of its own, marked.
    Pending* p = Acquire();
    p->malformedAlone = true;
    Append(p, typeAndFlags, text, length, 0);
    Emit(p, false, out);
    return;
  }
  Pending* p = nullptr;
  if (newest_ != nullptr && newest_->serial == h.serial) {
    p = newest_;
  } else {
    auto it = byKey_.find(h.serial);
    if (it != byKey_.end()) p = it->second;
  }
  // An event is its serial and its time, as ausearch keys them (the kernel
  // stamps every record of an event alike): the same serial at another time
  // is another event, and the one waiting is handed out.
  if (p != nullptr && !SameTime(p, h)) {
    byKey_.erase(p->serial);
    Unlink(p);
    Emit(p, p->hasExit, out);
    p = nullptr;
  }
  if (p != nullptr) {
    Append(p, typeAndFlags, text, length, h.bodyStart);
    if (cls == kExit) p->hasExit = true;
    return;
  }
  CountGap(h.serial);
  p = Acquire();
  p->serial = h.serial;
  p->seconds = h.seconds;
  p->millis = h.millis;
  p->since = nowNs;
  p->hasExit = cls == kExit;
  Append(p, typeAndFlags, text, length, h.bodyStart);
  if (cls == kSingle) {
    Emit(p, false, out);
    return;
  }
  byKey_.emplace(h.serial, p);
  p->prev = newest_;
  if (newest_) newest_->next = p;
  else oldest_ = p;
  newest_ = p;
  if (byKey_.size() > o_.maxInFlight) {
    Pending* first = oldest_;
    byKey_.erase(first->serial);
    Unlink(first);
    Emit(first, first->hasExit, out);
  }
}

void Assembler::Expire(uint64_t nowNs, Batch& out) {
  while (oldest_ != nullptr && nowNs - oldest_->since >= o_.timeoutNs) {
    Pending* p = oldest_;
    byKey_.erase(p->serial);
    Unlink(p);
    Emit(p, p->hasExit, out);
  }
}

void Assembler::CloseFiles() {
  if (cgroups_) cgroups_->CloseDir();
}

void Assembler::Flush(Batch& out) {
  while (oldest_ != nullptr) {
    Pending* p = oldest_;
    byKey_.erase(p->serial);
    Unlink(p);
    Emit(p, p->hasExit, out);
  }
}

uint64_t Assembler::NextDeadline() const {
  return oldest_ == nullptr ? UINT64_MAX : oldest_->since + o_.timeoutNs;
}

bool Assembler::Passes(const Pending* p, const uint8_t* key, size_t keyLen) const {
  if (!o_.types.empty()) {
    bool any = false;
    for (const Rec& r : p->recs) {
      if (o_.types[r.typeAndFlags & 0xffff]) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (!o_.keys.empty()) {
    // Several keys of one rule are joined with 0x01.
    size_t s = 0;
    while (key != nullptr && s <= keyLen) {
      size_t e = s;
      while (e < keyLen && key[e] != 0x01) e++;
      for (const std::string& k : o_.keys)
        if (k.size() == e - s && std::memcmp(k.data(), key + s, e - s) == 0) return true;
      s = e + 1;
    }
    return false;
  }
  return true;
}

void Assembler::Emit(Pending* p, bool incomplete, Batch& out) {
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(p->bytes.data());
  // Key, pid and ppid were found as the records arrived (Learn).
  const uint8_t* key = p->keySeen ? bytes + p->keyStart : nullptr;
  size_t keyLen = p->keySeen ? p->keyLength : 0;
  bool keyHex = p->keySeen && p->keyHex;
  int64_t pid = p->pidSeen ? p->pid : -1;
  int64_t ppid = p->ppidSeen ? p->ppid : -1;
  if (keyHex) {
    keyScratch_.clear();
    for (size_t i = 0; i + 1 < keyLen; i += 2)
      keyScratch_.push_back(static_cast<char>(HexDigit(key[i]) << 4 | HexDigit(key[i + 1])));
    key = reinterpret_cast<const uint8_t*>(keyScratch_.data());
    keyLen = keyScratch_.size();
  }
  if (incomplete) stats_.incomplete++;
  if (!Passes(p, key, keyLen)) {
    stats_.filtered++;
    Retire(p);
    return;
  }
  bool haveCgroup = p->cgroupSource == kCgroupSelf || p->cgroupSource == kCgroupParent || p->cgroupSource == kCgroupRuntimeParent;
  size_t cgroupLen = haveCgroup ? p->cgroup.size() : 0;
  size_t need = p->bytes.size() + (keyHex ? keyLen : 0) + cgroupLen;
  if (!out.Reserve(need)) throw std::bad_alloc();
  size_t base = out.used;
  std::memcpy(out.data + base, p->bytes.data(), p->bytes.size());
  out.used += p->bytes.size();
  uint32_t keyOffset = kNone;
  if (key != nullptr) {
    if (keyHex) {
      keyOffset = static_cast<uint32_t>(out.used);
      std::memcpy(out.data + out.used, key, keyLen);
      out.used += keyLen;
    } else {
      keyOffset = static_cast<uint32_t>(base + (key - bytes));
    }
  }
  uint32_t cgroupOffset = kNone;
  if (haveCgroup) {
    // The previous event's text again (the same process, as a rule): shared.
    if (out.lastCgroupOffset != kNone && out.lastCgroupLength == cgroupLen && std::memcmp(out.data + out.lastCgroupOffset, p->cgroup.data(), cgroupLen) == 0) {
      cgroupOffset = out.lastCgroupOffset;
    } else {
      cgroupOffset = static_cast<uint32_t>(out.used);
      std::memcpy(out.data + out.used, p->cgroup.data(), cgroupLen);
      out.used += cgroupLen;
      out.lastCgroupOffset = cgroupOffset;
      out.lastCgroupLength = static_cast<uint32_t>(cgroupLen);
    }
  }
  uint32_t first = static_cast<uint32_t>(out.records.size() / kRecordWords);
  for (const Rec& r : p->recs) {
    out.records.push_back(static_cast<uint32_t>(base + r.start));
    out.records.push_back(r.length);
    out.records.push_back(r.typeAndFlags);
    out.records.push_back(r.bodyStart);
  }
  bool plain = key != nullptr && IsAscii(key, keyLen) && std::memchr(key, 0x01, keyLen) == nullptr;
  uint32_t flags = (incomplete ? kEventIncomplete : 0) | (p->cut ? kEventCut : 0) | (plain ? kEventKeyPlain : 0);
  out.events.push_back(first);
  out.events.push_back(static_cast<uint32_t>(p->recs.size()));
  out.events.push_back(p->malformedAlone ? 0 : p->serial);
  out.events.push_back(p->malformedAlone ? 0 : static_cast<uint32_t>(p->seconds));
  out.events.push_back(p->malformedAlone ? 0 : p->millis);
  out.events.push_back(flags);
  out.events.push_back(keyOffset);
  out.events.push_back(static_cast<uint32_t>(keyLen));
  out.events.push_back(pid < 0 ? kNone : static_cast<uint32_t>(pid));
  out.events.push_back(ppid < 0 ? kNone : static_cast<uint32_t>(ppid));
  out.events.push_back(cgroupOffset);
  out.events.push_back(static_cast<uint32_t>(cgroupLen));
  out.events.push_back(p->cgroupSource);
  out.eventCount++;
  stats_.events++;
  Retire(p);
}

}  // namespace la
