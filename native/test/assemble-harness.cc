// The native assembler without a kernel: test/native-assembler.test.ts feeds it
// datagrams built from the corpus and reads back the batches JS would get.
//
// argv: TYPECLASS_FILE (65536 bytes, lib/constants RECORD_TYPE_CLASS) then
// options: maxInFlight=N timeoutMs=N maxRecordsPerEvent=N maxEventBytes=N
// key=K (repeats) type=N (repeats) cgroups=1 procRoot=DIR exec=ARCHHEX:NR (repeats).
// stdin, little-endian frames:
//   'D' u32 flags u32 length bytes   a datagram (flags: 1 = truncated)
//   'T' u64 ns                        the clock moves to ns; old events expire
//   'P'                               hand over the batch so far
//   'F'                               end of stream: everything still waiting
// stdout frames:
//   'B' u32 dataLength data u32 words index   a batch (layout: assembler.h)
//   'C' u32 length bytes                      a datagram routed as a reply
//   'S' u32 length json                       the stats, last
//
// `assemble-harness pool` instead checks the pool of freed blocks (no stdin)
// and prints what it saw as one JSON line.
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../assembler.h"

namespace {

bool ReadExact(void* p, size_t n) { return std::fread(p, 1, n, stdin) == n; }
void Write(const void* p, size_t n) { std::fwrite(p, 1, n, stdout); }
void WriteU32(uint32_t v) { Write(&v, 4); }

void Publish(la::Batch& b) {
  if (b.empty()) return;
  std::vector<uint32_t> index(b.IndexWords());
  b.WriteIndex(index.data());
  std::fputc('B', stdout);
  WriteU32(static_cast<uint32_t>(b.used));
  Write(b.data, b.used);
  WriteU32(static_cast<uint32_t>(index.size()));
  Write(index.data(), index.size() * 4);
  la::Batch done = std::move(b);
}

// Whether the page at p is still mapped (mincore fails with ENOMEM if not).
bool Mapped(const uint8_t* p) {
  unsigned char v;
  return ::mincore(const_cast<uint8_t*>(p), 1, &v) == 0 || errno != ENOMEM;
}

uint8_t* TakeBlock() {
  la::Batch b;
  if (!b.Reserve(1)) return nullptr;
  b.data[0] = 1;  // touched, as the reader touches a block it writes
  return b.Release();
}

// What happens to blocks JS lets go of: counted, not trusted to the comments.
int PoolCheck() {
  // No reader holds the pool: a freed block is unmapped at once.
  uint8_t* a = TakeBlock();
  la::FreeBatchBlock(a, la::kBatchBytes);
  const bool unheldUnmapped = !Mapped(a);
  // A reader holds it: freed blocks stay mapped, up to the bound, and the
  // next block is the last one the pool kept.
  la::RetainBlockPool();
  std::vector<uint8_t*> blocks;
  for (int i = 0; i < 70; i++) blocks.push_back(TakeBlock());
  for (uint8_t* b : blocks) la::FreeBatchBlock(b, la::kBatchBytes);
  size_t kept = 0;
  for (uint8_t* b : blocks) kept += Mapped(b) ? 1 : 0;
  uint8_t* again = TakeBlock();
  const bool reused = kept > 0 && again == blocks[kept - 1];
  la::FreeBatchBlock(again, la::kBatchBytes);
  // A second holder, then both let go: the pool is emptied by the last.
  la::RetainBlockPool();
  la::ReleaseBlockPool();
  size_t keptAfterOne = 0;
  for (uint8_t* b : blocks) keptAfterOne += Mapped(b) ? 1 : 0;
  la::ReleaseBlockPool();
  size_t keptAfterLast = 0;
  for (uint8_t* b : blocks) keptAfterLast += Mapped(b) ? 1 : 0;
  std::printf("{\"unheldUnmapped\":%s,\"kept\":%zu,\"reused\":%s,\"keptAfterOneOfTwo\":%zu,\"keptAfterLast\":%zu}\n",
              unheldUnmapped ? "true" : "false", kept, reused ? "true" : "false", keptAfterOne, keptAfterLast);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "pool") == 0) return PoolCheck();
  if (argc < 2) {
    std::fprintf(stderr, "usage: assemble-harness TYPECLASS_FILE [option=value ...]\n");
    return 2;
  }
  la::AssemblerOptions o;
  std::ifstream table(argv[1], std::ios::binary);
  o.typeClass.resize(65536);
  if (!table.read(reinterpret_cast<char*>(o.typeClass.data()), 65536)) {
    std::fprintf(stderr, "assemble-harness: %s is not a 65536-byte table\n", argv[1]);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    std::string a = argv[i];
    size_t eq = a.find('=');
    std::string k = a.substr(0, eq), v = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (k == "maxInFlight") o.maxInFlight = static_cast<uint32_t>(std::stoul(v));
    else if (k == "timeoutMs") o.timeoutNs = std::stoull(v) * 1000000ull;
    else if (k == "maxRecordsPerEvent") o.maxRecordsPerEvent = static_cast<uint32_t>(std::stoul(v));
    else if (k == "maxEventBytes") o.maxEventBytes = std::stoull(v);
    else if (k == "key") o.keys.push_back(v);
    else if (k == "cgroups") o.cgroups = v == "1";
    else if (k == "procRoot") o.procRoot = v;
    else if (k == "exec") o.execSyscalls.emplace_back(std::stoul(v.substr(0, v.find(':')), nullptr, 16), std::stoul(v.substr(v.find(':') + 1)));
    else if (k == "type") {
      if (o.types.empty()) o.types.assign(65536, 0);
      o.types[std::stoul(v) & 0xffff] = 1;
    } else {
      std::fprintf(stderr, "assemble-harness: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  la::Assembler assembler(std::move(o));
  la::Batch batch;
  uint64_t now = 0;
  std::vector<uint8_t> d;
  int c;
  while ((c = std::fgetc(stdin)) != EOF) {
    if (c == 'D') {
      uint32_t flags, length;
      if (!ReadExact(&flags, 4) || !ReadExact(&length, 4)) return 3;
      d.resize(length);
      if (length > 0 && !ReadExact(d.data(), length)) return 3;
      if (!assembler.PushDatagram(d.data(), length, flags, now, batch)) {
        std::fputc('C', stdout);
        WriteU32(length);
        Write(d.data(), length);
      }
    } else if (c == 'T') {
      if (!ReadExact(&now, 8)) return 3;
      assembler.Expire(now, batch);
    } else if (c == 'P') {
      Publish(batch);
    } else if (c == 'F') {
      assembler.Flush(batch);
      Publish(batch);
    } else {
      std::fprintf(stderr, "assemble-harness: unknown frame %c\n", c);
      return 3;
    }
  }
  Publish(batch);
  const la::AssemblerStats& s = assembler.stats();
  char json[512];
  int n = std::snprintf(json, sizeof json,
                        "{\"records\":%.0f,\"events\":%.0f,\"filtered\":%.0f,\"incomplete\":%.0f,\"strayEndOfEvent\":%.0f,"
                        "\"serialGaps\":%.0f,\"malformed\":%.0f,\"recordsCut\":%.0f,\"inFlight\":%zu,"
                        "\"cgroupReads\":%.0f,\"cgroupParent\":%.0f,\"cgroupGone\":%.0f}",
                        s.records, s.events, s.filtered, s.incomplete, s.strayEndOfEvent, s.serialGaps, s.malformed,
                        s.recordsCut, assembler.InFlight(), s.cgroupReads, s.cgroupParent, s.cgroupGone);
  std::fputc('S', stdout);
  WriteU32(static_cast<uint32_t>(n));
  Write(json, static_cast<size_t>(n));
  return 0;
}
