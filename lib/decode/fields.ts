// The field scanner: one pass over a record's body, no regex, no allocation.
// It writes token positions into a shared Int32Array; callers turn only the
// tokens they need into strings. This is the decoder's hot path.

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

let nextEq = -1;
let nextSp = -1;

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

const SPACE = 32;
const DQUOTE = 34;
const SQUOTE = 39;

function isMsgKey(text: string, ks: number, ke: number): boolean {
  return ke - ks === 3 && text.charCodeAt(ks) === 109 && text.charCodeAt(ks + 1) === 115 && text.charCodeAt(ks + 2) === 103;
}

function isOldWord(text: string, ws: number, we: number): boolean {
  return we - ws === 3 && text.charCodeAt(ws) === 111 && text.charCodeAt(ws + 1) === 108 && text.charCodeAt(ws + 2) === 100;
}

/**
 * Scan `key=value` tokens of text[start, end). Values are bare (up to a space),
 * "double quoted" (literal: the kernel never quotes a value that contains a
 * quote; user-space text's backslash escapes are kept as written) or 'single quoted' (user messages' msg='…', whose inner
 * key=value pairs are scanned in place of msg itself). Bare words without `=`
 * (AVC's `avc:  denied  { read } for`) are skipped. Returns the token count.
 */
export function scanFields(text: string, start: number, end: number, count = 0, inner = 0): number {
  let i = start;
  let afterOld = false;
  // The next '=' and ' ' in the whole text at or after i, searched again only
  // once i has passed them, and shared with the nested scan of a msg='…' (which
  // scans forward within the outer scan's progress): a body of bare words
  // (`a a a …`) or of nested messages (`msg='msg='…`) would otherwise search
  // to the text's end once per word, quadratic in hostile text.
  if (inner === 0) {
    nextEq = -1;
    nextSp = -1;
    cut = false;
  }
  const limit = DECODE_LIMITS.maxFieldsPerRecord;
  while (i < end) {
    if (count >= limit) {
      cut = true;
      break;
    }
    if (text.charCodeAt(i) === SPACE) {
      i++;
      continue;
    }
    // indexOf is a memchr on V8's one-byte strings: far cheaper than a loop of
    // charCodeAt over every character of the record.
    const ks = i;
    if (nextEq < i) {
      nextEq = text.indexOf('=', i);
      if (nextEq < 0) nextEq = text.length;
    }
    if (nextSp < i) {
      nextSp = text.indexOf(' ', i);
      if (nextSp < 0) nextSp = text.length;
    }
    const eq = nextEq < end ? nextEq : end;
    const sp = nextSp < end ? nextSp : end;
    if (sp < eq || eq === end) {
      afterOld = isOldWord(text, ks, sp);
      i = sp;
      continue;
    }
    const ke = eq;
    i = eq + 1;
    let vs: number;
    let ve: number;
    let flags = (afterOld ? OLD_PREFIX : 0) | inner;
    afterOld = false;
    const c = i < end ? text.charCodeAt(i) : -1;
    if (c === DQUOTE || c === SQUOTE) {
      vs = i + 1;
      const quote = c === DQUOTE ? '"' : "'";
      // No escapes: the kernel writes an argument ending in a backslash as
      // "x\" (quoted when printable), and libauparse ends the value at the
      // quote. Reading \" as an escape would join the next arguments into
      // this one: a program could hide its arguments behind a trailing \.
      let close = text.indexOf(quote, vs);
      if (close < 0 || close > end) close = end;
      ve = close;
      i = close + 1;
      if (c === SQUOTE && isMsgKey(text, ks, ke)) {
        const nested = scanFields(text, vs, ve, count, INNER);
        if (nested > count) {
          trimProse(text, count, nested);
          count = nested;
          continue;
        }
      }
      flags |= c === DQUOTE ? QUOTED_DOUBLE : QUOTED_SINGLE;
    } else {
      vs = i;
      ve = sp;
      i = sp;
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
function trimProse(text: string, from: number, to: number): void {
  for (let k = from; k < to; k++) {
    const at = k * TOKEN_WORDS;
    // (hostname=?, …): the parenthesis opens the prose's list, it is not the key's.
    if (text.charCodeAt(tokens[at]) === 40 && tokens[at + 1] - tokens[at] > 1) tokens[at]++;
    if (tokens[at + 4] & (QUOTED_DOUBLE | QUOTED_SINGLE)) continue;
    let ve = tokens[at + 3];
    while (ve > tokens[at + 2] && (text.charCodeAt(ve - 1) === 44 || text.charCodeAt(ve - 1) === 41)) ve--;
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

let hexScratch = Buffer.allocUnsafe(4096);

/** The bytes of a hex run. The result is a view of a shared buffer: copy before keeping. */
export function hexBytes(text: string, start: number, end: number): Buffer {
  const n = (end - start) >>> 1;
  if (n > hexScratch.length) hexScratch = Buffer.allocUnsafe(Math.max(n, hexScratch.length * 2));
  const written = hexScratch.write(text.slice(start, end), 0, n, 'hex');
  return hexScratch.subarray(0, written);
}

/** Decode a hex run as UTF-8 text (invalid sequences become U+FFFD). */
export function decodeHex(text: string, start: number, end: number): string {
  return hexBytes(text, start, end).toString('utf8');
}
