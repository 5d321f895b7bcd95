// Reading an audit record's text without making strings: the header
// `audit(SECONDS.MILLIS:SERIAL):` and the few fields the reader thread needs
// (key, pid, ppid) to assemble, filter and describe events. The same rules as
// lib/decode (record.ts, fields.ts), over bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace la {

struct Header {
  uint64_t seconds;
  uint32_t millis;
  uint32_t serial;
  size_t bodyStart;  // offset of the body (after "):" ) from the start of the text
};

// audit(S.MS:SERIAL): at text[0, n). False when it is not there.
inline bool ParseHeader(const uint8_t* t, size_t n, Header* h) {
  if (n < 6 || t[0] != 'a' || t[1] != 'u' || t[2] != 'd' || t[3] != 'i' || t[4] != 't' || t[5] != '(') return false;
  size_t i = 6;
  uint64_t seconds = 0;
  size_t digits = 0;
  while (i < n && t[i] >= '0' && t[i] <= '9') {
    if (digits < 18) seconds = seconds * 10 + (t[i] - '0');
    i++;
    digits++;
  }
  if (digits == 0 || digits > 18 || i >= n || t[i] != '.') return false;
  i++;
  uint64_t millis = 0;
  digits = 0;
  while (i < n && t[i] >= '0' && t[i] <= '9') {
    if (digits < 10) millis = millis * 10 + (t[i] - '0');
    i++;
    digits++;
  }
  // %03lu milliseconds, as lib/decode/record.ts reads them.
  if (digits == 0 || digits > 3 || i >= n || t[i] != ':') return false;
  i++;
  uint64_t serial = 0;
  digits = 0;
  while (i < n && t[i] >= '0' && t[i] <= '9') {
    if (digits < 11) serial = serial * 10 + (t[i] - '0');
    i++;
    digits++;
  }
  if (digits == 0 || serial > 0xffffffffu || i >= n || t[i] != ')') return false;
  i++;
  if (i < n && t[i] == ':') i++;
  h->seconds = seconds;
  h->millis = static_cast<uint32_t>(millis);
  h->serial = static_cast<uint32_t>(serial);
  h->bodyStart = i;
  return true;
}

// A field's value as written: [start, end) in the text, and how it was quoted.
struct Value {
  size_t start = 0;
  size_t end = 0;
  char quote = 0;  // 0, '"' or '\''
  bool found = false;
};

// A field the caller looks for, and what was found (`value.found`).
struct Wanted {
  const char* name;
  size_t length;
  Value value;
};

// One key=value token of body text, scanned as lib/decode/fields.ts scans
// them: separated by spaces, values bare, "double" or 'single' quoted, a
// value ending at its closing quote whatever precedes it (the kernel quotes
// only values without quotes, and prints an argument ending in a backslash
// as "x\": read as an escape, it would run into the next field and let that
// field's text pass for a key); words without '=' skipped. After the bare
// word `old` (pre-3.x LOGIN records: `old auid=`) a key is old-<key>.
struct Token {
  size_t keyStart, keyEnd;
  Value value;
  bool old;
};

// Where the first byte equal to a or b is in t[i, to), or `to`. The reader
// thread scans the SYSCALL record of every event for its pid, ppid and key;
// byte by byte that scan was half the assembler's time per event (a probe:
// about 400 of 800 ns), so it reads eight bytes at a time (SWAR): a byte of
// w ^ pattern is zero where w has the byte looked for, and (v - 0x01..) & ~v
// & 0x80.. marks zero bytes, exactly up to the first one (the borrow only
// spoils bytes above it), which is all that is read. Big-endian builds go
// byte by byte.
constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighs = 0x8080808080808080ull;

inline uint64_t ZeroBytes(uint64_t v) { return (v - kOnes) & ~v & kHighs; }

inline size_t FindEither(const uint8_t* t, size_t i, size_t to, uint8_t a, uint8_t b) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  const uint64_t pa = kOnes * a;
  const uint64_t pb = kOnes * b;
  for (; i + 8 <= to; i += 8) {
    uint64_t w;
    std::memcpy(&w, t + i, 8);
    const uint64_t m = ZeroBytes(w ^ pa) | ZeroBytes(w ^ pb);
    if (m != 0) return i + (static_cast<size_t>(__builtin_ctzll(m)) >> 3);
  }
#endif
  while (i < to && t[i] != a && t[i] != b) i++;
  return i;
}

inline size_t FindByte(const uint8_t* t, size_t i, size_t to, uint8_t a) { return FindEither(t, i, to, a, a); }

// The next token at or after i (false at the end); i moves past it.
inline bool NextToken(const uint8_t* t, size_t& i, size_t to, Token* out) {
  bool afterOld = false;
  while (i < to) {
    if (t[i] == ' ') {
      i++;
      continue;
    }
    size_t ks = i;
    i = FindEither(t, i, to, '=', ' ');
    if (i >= to || t[i] == ' ') {  // a bare word
      afterOld = i - ks == 3 && t[ks] == 'o' && t[ks + 1] == 'l' && t[ks + 2] == 'd';
      continue;
    }
    out->keyStart = ks;
    out->keyEnd = i;
    out->old = afterOld;
    i++;
    Value v;
    if (i < to && (t[i] == '"' || t[i] == '\'')) {
      const uint8_t q = t[i];
      size_t close = FindByte(t, i + 1, to, q);
      v.start = i + 1;
      v.end = close;
      v.quote = static_cast<char>(q);
      i = close < to ? close + 1 : to;
    } else {
      v.start = i;
      i = FindByte(t, i, to, ' ');
      v.end = i;
    }
    v.found = true;
    out->value = v;
    return true;
  }
  return false;
}

inline bool IsMsgWithFields(const uint8_t* t, const Token& k) {
  return k.value.quote == '\'' && k.keyEnd - k.keyStart == 3 && t[k.keyStart] == 'm' && t[k.keyStart + 1] == 's' && t[k.keyStart + 2] == 'g';
}

// Inline, not memcmp: the names are a few bytes, and a call per token and
// wanted name cost more than the comparison (a probe: 9% of the assembler).
inline bool SameBytes(const uint8_t* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != static_cast<uint8_t>(b[i])) return false;
  return true;
}

// A name's bit in a 64-bit set (first byte, last byte, length): a token whose
// bit is not among the wanted names' is none of them, which most tokens are
// not, without comparing it with each name (a probe: the comparisons were a
// seventh of the assembler's instructions per event). The factors were
// chosen so that the usual names of SYSCALL, PATH, CWD and USER records
// (auid, uid, gid, exe, comm, name, mode, …) do not share a bit with pid,
// ppid, key, arch or syscall; a shared bit only costs the comparison.
inline uint64_t NameBit(const uint8_t* s, size_t n) {
  return uint64_t{1} << ((s[0] * 4u + (s[n - 1] + n) * 7u) & 63u);
}

// Marks a wanted field found by token k, unless one was found before.
// `names` holds the wanted names' NameBit.
inline bool Take(const uint8_t* t, const Token& k, Wanted* wanted, size_t count, uint64_t names) {
  const size_t n = k.keyEnd - k.keyStart;
  if (k.old || n == 0 || (NameBit(t + k.keyStart, n) & names) == 0) return false;
  for (size_t w = 0; w < count; w++) {
    Wanted& x = wanted[w];
    if (!x.value.found && x.length == n && SameBytes(t + k.keyStart, x.name, n)) {
      x.value = k.value;
      return true;
    }
  }
  return false;
}

// The values of the wanted fields in body text[from, to): each the record's
// own first such field, or, when it has none, the first inside its msg='…'
// fields (user-space records nest their fields there), in order. An inner
// field never replaces the record's own. Inside a message, old prose wraps
// fields in punctuation, `(hostname=?, addr=?, …)`, which is not theirs
// (lib/decode/fields.ts trimProse). lib/decode/record.ts rawField() reads
// the same.
inline void FindFields(const uint8_t* t, size_t from, size_t to, Wanted* wanted, size_t count) {
  size_t missing = 0;
  uint64_t names = 0;
  for (size_t w = 0; w < count; w++) {
    if (wanted[w].value.found) continue;
    missing++;
    names |= NameBit(reinterpret_cast<const uint8_t*>(wanted[w].name), wanted[w].length);
  }
  bool haveMsg = false;
  Token k;
  size_t i = from;
  while (missing > 0 && NextToken(t, i, to, &k)) {
    if (IsMsgWithFields(t, k)) haveMsg = true;
    else if (Take(t, k, wanted, count, names)) missing--;
  }
  if (missing == 0 || !haveMsg) return;
  i = from;
  while (missing > 0 && NextToken(t, i, to, &k)) {
    if (!IsMsgWithFields(t, k)) continue;
    size_t j = k.value.start;
    Token inner;
    while (missing > 0 && NextToken(t, j, k.value.end, &inner)) {
      if (t[inner.keyStart] == '(' && inner.keyEnd - inner.keyStart > 1) inner.keyStart++;
      if (inner.value.quote == 0)
        while (inner.value.end > inner.value.start && (t[inner.value.end - 1] == ',' || t[inner.value.end - 1] == ')')) inner.value.end--;
      if (Take(t, inner, wanted, count, names)) missing--;
    }
  }
}

// An unquoted decimal number below 2^32 - 1 (a batch index's none: no pid is
// that large), or -1.
inline int64_t ParseDecimal(const uint8_t* t, const Value& v) {
  if (!v.found || v.quote != 0 || v.end == v.start || v.end - v.start > 10) return -1;
  uint64_t n = 0;
  for (size_t i = v.start; i < v.end; i++) {
    if (t[i] < '0' || t[i] > '9') return -1;
    n = n * 10 + (t[i] - '0');
  }
  return n >= 0xffffffffu ? -1 : static_cast<int64_t>(n);
}

inline int HexDigit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The kernel's encoding of an untrusted string: non-empty, even-length,
// upper-case hex, unquoted (lib/decode/fields.ts isEncodedHex).
inline bool IsEncodedHex(const uint8_t* t, const Value& v) {
  if (v.quote != 0 || v.end <= v.start || ((v.end - v.start) & 1) != 0) return false;
  for (size_t i = v.start; i < v.end; i++)
    if (HexDigit(t[i]) < 0) return false;
  return true;
}

// UTF-8 as WHATWG decoders accept it (no overlongs, no surrogates, <= U+10FFFF).
inline bool IsUtf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return false;
    i += len;
  }
  return true;
}

}  // namespace la
