// The field scanner: one pass over a record's bytes, no regex, no allocation.
// It writes token positions (byte offsets) into a shared Int32Array; callers
// turn only the tokens they need into strings. This is the decoder's hot path:
// indexed reads of a Uint8Array are the cheapest loop V8 compiles, 2-3x
// faster over records than charCodeAt or indexOf over their (sliced) strings.

/** Per token: keyStart, keyEnd, valueStart, valueEnd, flags. */
export const TOKEN_WORDS = 5;
export const QUOTED_DOUBLE = 1;
export const QUOTED_SINGLE = 2;
/** The key was preceded by the bare word `old` (pre-3.x LOGIN records: `old auid=`). */
export const OLD_PREFIX = 4;
/** The field was inside a user message's msg='…': it never replaces a field of the record's own. */
export const INNER = 8;

let tokens = new Int32Array(TOKEN_WORDS * 128);

function grow(): void {
  const bigger = new Int32Array(tokens.length * 2);
  bigger.set(tokens);
  tokens = bigger;
}

/** The token buffer written by the last scan (valid until the next scan). */
export function scannedTokens(): Int32Array {
  return tokens;
}

/**
 * Most fields read from one record. The kernel's longest record (under 9 KiB)
 * holds a few thousand; past tens of thousands, objects with that many keys
 * cost more than linearly in V8. The rest of the record is left unread, the
 * record marked (AuditRecord) and counted (decodeStats()).
 */
export const DECODE_LIMITS = { maxFieldsPerRecord: 10_000 };
/** Whether the last scan stopped at maxFieldsPerRecord. */
let cut = false;

export function lastScanCut(): boolean {
  return cut;
}

/** The most writeText's buffer keeps between writes. */
const KEPT_TEXT_BYTES = 1 << 20;

/**
 * What writeText wrote: the text's UTF-8 bytes (a shared buffer), how many,
 * whether they were ASCII, and a count of writes (bytes of an earlier write
 * are still there while it has not moved).
 */
export const textBytes = { bytes: Buffer.allocUnsafe(16 * 1024), length: 0, ascii: true, generation: 0 };

const encoder = new TextEncoder();

/**
 * A string's UTF-8 bytes, for scanFields, into textBytes (valid until the next
 * call): one native call, and no allocation once the buffer has grown to the
 * longest text (up to a megabyte). Byte offsets are the string's offsets when
 * it is ASCII.
 */
export function writeText(text: string): void {
  textBytes.generation++;
  let need = text.length * 3;
  if (need > textBytes.bytes.length || textBytes.bytes.length > KEPT_TEXT_BYTES) {
    // Past a megabyte, exactly what this text takes, and only until the next
    // write: one long line must not leave three times its size behind.
    if (need > KEPT_TEXT_BYTES) need = Buffer.byteLength(text);
    textBytes.bytes = Buffer.allocUnsafe(Math.max(need, 16 * 1024));
  }
  // encodeInto: about a quarter less per log line than Buffer's utf8Write (a probe: 84 against 116 ns).
  textBytes.length = encoder.encodeInto(text, textBytes.bytes).written;
  // Every character past ASCII takes two bytes or more.
  textBytes.ascii = textBytes.length === text.length;
}

/** bytes[at, at + word.length) holds word's characters (ASCII words). */
export function bytesMatch(bytes: Uint8Array, at: number, word: string): boolean {
  const n = word.length;
  for (let i = 0; i < n; i++) if (bytes[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

export const SPACE = 32;
export const DQUOTE = 34;
export const SQUOTE = 39;
export const EQUALS = 61;

function isMsgKey(b: Uint8Array, ks: number, ke: number): boolean {
  return ke - ks === 3 && b[ks] === 109 && b[ks + 1] === 115 && b[ks + 2] === 103;
}

function isOldWord(b: Uint8Array, ws: number, we: number): boolean {
  return we - ws === 3 && b[ws] === 111 && b[ws + 1] === 108 && b[ws + 2] === 100;
}

/**
 * Scan `key=value` tokens of bytes[start, end). Values are bare (up to a space),
 * "double quoted" (literal: the kernel never quotes a value that contains a
 * quote; user-space text's backslash escapes are kept as written) or 'single quoted' (user messages' msg='…', whose inner
 * key=value pairs are scanned in place of msg itself). Bare words without `=`
 * (AVC's `avc:  denied  { read } for`) are skipped. Returns the token count.
 * Every byte is looked at a bounded number of times (a nested msg='…' once
 * for its closing quote, once inside), so hostile text scans in linear time.
 */
export function scanFields(b: Uint8Array, start: number, end: number, count = 0, inner = 0): number {
  let i = start;
  let afterOld = false;
  if (inner === 0) cut = false;
  const limit = DECODE_LIMITS.maxFieldsPerRecord;
  while (i < end) {
    if (count >= limit) {
      cut = true;
      break;
    }
    let c = b[i];
    if (c === SPACE) {
      i++;
      continue;
    }
    const ks = i;
    while (i < end && (c = b[i]) !== EQUALS && c !== SPACE) i++;
    if (i === end || c === SPACE) {
      afterOld = isOldWord(b, ks, i);
      continue;
    }
    const ke = i;
    i++;
    let vs: number;
    let ve: number;
    let flags = (afterOld ? OLD_PREFIX : 0) | inner;
    afterOld = false;
    c = i < end ? b[i] : -1;
    if (c === DQUOTE || c === SQUOTE) {
      vs = i + 1;
      // No escapes: the kernel writes an argument ending in a backslash as
      // "x\" (quoted when printable), and libauparse ends the value at the
      // quote. Reading \" as an escape would join the next arguments into
      // this one: a program could hide its arguments behind a trailing \.
      let close = vs;
      while (close < end && b[close] !== c) close++;
      ve = close;
      i = close + 1;
      if (c === SQUOTE && isMsgKey(b, ks, ke)) {
        const nested = scanFields(b, vs, ve, count, INNER);
        if (nested > count) {
          trimProse(b, count, nested);
          count = nested;
          continue;
        }
      }
      flags |= c === DQUOTE ? QUOTED_DOUBLE : QUOTED_SINGLE;
    } else {
      vs = i;
      while (i < end && b[i] !== SPACE) i++;
      ve = i;
    }
    const at = count * TOKEN_WORDS;
    if (at + TOKEN_WORDS > tokens.length) grow();
    tokens[at] = ks;
    tokens[at + 1] = ke;
    tokens[at + 2] = vs;
    tokens[at + 3] = ve;
    tokens[at + 4] = flags;
    count++;
  }
  return count;
}

/**
 * Old user-space messages wrap their fields in prose: msg='PAM: session open
 * (hostname=?, addr=?, terminal=pts/0 res=success)'. There the trailing comma
 * or parenthesis of a bare value, and the opening parenthesis of a key, are
 * punctuation (libauparse reads the key as hostname).
 */
function trimProse(b: Uint8Array, from: number, to: number): void {
  for (let k = from; k < to; k++) {
    const at = k * TOKEN_WORDS;
    // (hostname=?, …): the parenthesis opens the prose's list, it is not the key's.
    if (b[tokens[at]] === 40 && tokens[at + 1] - tokens[at] > 1) tokens[at]++;
    if (tokens[at + 4] & (QUOTED_DOUBLE | QUOTED_SINGLE)) continue;
    let ve = tokens[at + 3];
    while (ve > tokens[at + 2] && (b[ve - 1] === 44 || b[ve - 1] === 41)) ve--;
    tokens[at + 3] = ve;
  }
}

/**
 * Fields whose values may carry untrusted bytes, and so are printed "quoted"
 * when safe and as unquoted upper-case hex otherwise (audit-userspace
 * auparse/typetab.h: the ESCAPED types and proctitle). saddr is binary, not
 * text: it stays hex for the interpretation layer. EXECVE's aN are handled by
 * record type, since a0-a3 elsewhere are numbers.
 */
export const HEX_ENCODED_FIELDS: ReadonlySet<string> = new Set([
  'acct', 'apparmor', 'cgroup', 'cmd', 'comm', 'cwd', 'data', 'denied_mask', 'device', 'dir', 'exe',
  'file', 'grp', 'info', 'invalid_context', 'key', 'name', 'new-chardev', 'new-disk', 'new-fs',
  'new-net', 'new-rng', 'new_group', 'ocomm', 'old-chardev', 'old-disk', 'old-fs', 'old-net',
  'old-rng', 'operation', 'path', 'proctitle', 'profile', 'requested_mask', 'root_dir', 'sw',
  'vm', 'watch',
]);

/** True when text[start, end) is non-empty, even-length upper-case hex: the kernel's encoding. */
export function isEncodedHex(text: string, start: number, end: number): boolean {
  if (end <= start || ((end - start) & 1) !== 0) return false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

/** isEncodedHex over bytes. */
export function isEncodedHexBytes(b: Uint8Array, start: number, end: number): boolean {
  if (end <= start || ((end - start) & 1) !== 0) return false;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

let hexScratch = Buffer.allocUnsafe(4096);

/** The bytes of a hex run. The result is a view of a shared buffer: copy before keeping. */
export function hexBytes(text: string, start: number, end: number): Buffer {
  const n = (end - start) >>> 1;
  if (n > hexScratch.length) hexScratch = Buffer.allocUnsafe(Math.max(n, hexScratch.length * 2));
  const written = hexScratch.write(text.slice(start, end), 0, n, 'hex');
  return hexScratch.subarray(0, written);
}

/** Decode an upper-case hex run of bytes (isEncodedHexBytes) as UTF-8 text (invalid sequences become U+FFFD): in JS, then one native call for the string. */
export function decodeHexBytes(b: Uint8Array, start: number, end: number): string {
  const n = (end - start) >>> 1;
  if (n > hexScratch.length) hexScratch = Buffer.allocUnsafe(Math.max(n, hexScratch.length * 2));
  for (let i = 0, j = start; i < n; i++, j += 2) {
    const hi = b[j];
    const lo = b[j + 1];
    hexScratch[i] = ((hi <= 57 ? hi - 48 : hi - 55) << 4) | (lo <= 57 ? lo - 48 : lo - 55);
  }
  return (hexScratch as Buffer & { utf8Slice(start: number, end: number): string }).utf8Slice(0, n);
}
