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
  if (digits == 0 || digits > 9 || i >= n || t[i] != ':') return false;
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

// The values of the wanted fields in body text[from, to), in one pass: each
// the record's own field, or, when it has none, one inside its msg='…'
// (user-space records nest their fields there). An inner field never
// replaces the record's own. Tokens are scanned as lib/decode/fields.ts scans
// them: key=value separated by spaces, values bare, "double" or 'single'
// quoted, a value ending at its closing quote whatever precedes it (the
// kernel quotes only values without quotes, and prints an argument ending in
// a backslash as "x\": read as an escape, it would run into the next field
// and let that field's text pass for a key); words without '=' skipped.
inline void FindFields(const uint8_t* t, size_t from, size_t to, Wanted* wanted, size_t count, bool nested = false) {
  size_t missing = 0;
  for (size_t w = 0; w < count; w++) missing += wanted[w].value.found ? 0 : 1;
  size_t msgStart = 0, msgEnd = 0;
  bool haveMsg = false;
  size_t i = from;
  while (i < to && missing > 0) {
    if (t[i] == ' ') {
      i++;
      continue;
    }
    size_t ks = i;
    while (i < to && t[i] != '=' && t[i] != ' ') i++;
    if (i >= to || t[i] == ' ') continue;  // a bare word
    size_t ke = i;
    i++;
    Value v;
    if (i < to && (t[i] == '"' || t[i] == '\'')) {
      char q = static_cast<char>(t[i]);
      size_t close = i + 1;
      while (close < to && t[close] != static_cast<uint8_t>(q)) close++;
      v.start = i + 1;
      v.end = close;
      v.quote = q;
      i = close < to ? close + 1 : to;
    } else {
      v.start = i;
      while (i < to && t[i] != ' ') i++;
      v.end = i;
    }
    v.found = true;
    for (size_t w = 0; w < count; w++) {
      Wanted& x = wanted[w];
      if (!x.value.found && x.length == ke - ks && std::memcmp(t + ks, x.name, x.length) == 0) {
        x.value = v;
        missing--;
        break;
      }
    }
    if (!nested && !haveMsg && v.quote == '\'' && ke - ks == 3 && t[ks] == 'm' && t[ks + 1] == 's' && t[ks + 2] == 'g') {
      haveMsg = true;
      msgStart = v.start;
      msgEnd = v.end;
    }
  }
  if (missing > 0 && haveMsg) FindFields(t, msgStart, msgEnd, wanted, count, true);
}

// A decimal number of at most 10 digits that fits 32 bits, or -1.
inline int64_t ParseDecimal(const uint8_t* t, const Value& v) {
  if (!v.found || v.quote != 0 || v.end == v.start || v.end - v.start > 10) return -1;
  uint64_t n = 0;
  for (size_t i = v.start; i < v.end; i++) {
    if (t[i] < '0' || t[i] > '9') return -1;
    n = n * 10 + (t[i] - '0');
  }
  return n > 0xffffffffu ? -1 : static_cast<int64_t>(n);
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
