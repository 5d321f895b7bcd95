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

// The next token at or after i (false at the end); i moves past it.
inline bool NextToken(const uint8_t* t, size_t& i, size_t to, Token* out) {
  bool afterOld = false;
  while (i < to) {
    if (t[i] == ' ') {
      i++;
      continue;
    }
    size_t ks = i;
    while (i < to && t[i] != '=' && t[i] != ' ') i++;
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
      size_t close = i + 1;
      while (close < to && t[close] != q) close++;
      v.start = i + 1;
      v.end = close;
      v.quote = static_cast<char>(q);
      i = close < to ? close + 1 : to;
    } else {
      v.start = i;
      while (i < to && t[i] != ' ') i++;
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

// Marks a wanted field found by token k, unless one was found before.
inline bool Take(const uint8_t* t, const Token& k, Wanted* wanted, size_t count) {
  if (k.old) return false;
  for (size_t w = 0; w < count; w++) {
    Wanted& x = wanted[w];
    if (!x.value.found && x.length == k.keyEnd - k.keyStart && std::memcmp(t + k.keyStart, x.name, x.length) == 0) {
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
  for (size_t w = 0; w < count; w++) missing += wanted[w].value.found ? 0 : 1;
  bool haveMsg = false;
  Token k;
  size_t i = from;
  while (missing > 0 && NextToken(t, i, to, &k)) {
    if (IsMsgWithFields(t, k)) haveMsg = true;
    else if (Take(t, k, wanted, count)) missing--;
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
      if (Take(t, inner, wanted, count)) missing--;
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
