// Text that reaches a terminal. Audit fields carry attacker-chosen bytes (file
// names, argv, comm): printed as they are, an escape sequence can rewrite the
// operator's screen, a newline can forge a record, a bidi override can make a
// path read differently. Everything that is not plain printable text is shown
// as a backslash escape, so what the operator reads is what the kernel logged.

/** Code points shown escaped even though they are valid text. */
function isHiddenOrControl(cp: number): boolean {
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0x9f) || // DEL and the C1 controls (0x9b is a one-byte CSI)
    (cp >= 0x200b && cp <= 0x200f) || // zero-width and direction marks
    (cp >= 0x202a && cp <= 0x202e) || // bidi embeddings and overrides
    (cp >= 0x2066 && cp <= 0x2069) || // bidi isolates
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0xfeff ||
    cp === 0xfffd // stands for bytes that were not UTF-8: say so rather than hide it
  );
}

const SHORT: Record<number, string> = { 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r', 0x5c: '\\\\' };

function escapeCodePoint(cp: number): string {
  const short = SHORT[cp];
  if (short !== undefined) return short;
  if (cp <= 0xff) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/** A string as a terminal may show it: controls, bidi and invisible characters escaped, backslashes doubled. */
export function escapeText(text: string): string {
  // Most values are plain ASCII: one scan, no copy.
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  // Runs of plain text are sliced whole and the pieces joined once: a string
  // grown one character at a time costs more the longer it gets (a hostile
  // record of a megabyte of backslashes).
  const parts: string[] = [];
  let from = 0;
  let i = 0;
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    if (cp === 0x5c || isHiddenOrControl(cp)) {
      if (from < i) parts.push(text.slice(from, i));
      parts.push(escapeCodePoint(cp));
      from = i + width;
    }
    i += width;
  }
  if (from < text.length) parts.push(text.slice(from));
  return parts.join('');
}

/** Bytes as a terminal may show them: valid UTF-8 text as text (escaped as above), every other byte as \xNN. */
export function escapeBytes(bytes: Uint8Array): string {
  // Pieces joined once, as in escapeText.
  const parts: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const need = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    const cp = need === 0 ? -1 : decodeOne(bytes, i, need);
    if (cp < 0) {
      parts.push(`\\x${b.toString(16).padStart(2, '0')}`);
      i++;
      continue;
    }
    parts.push(cp === 0x5c || isHiddenOrControl(cp) ? escapeCodePoint(cp) : String.fromCodePoint(cp));
    i += need;
  }
  return parts.join('');
}

/** The code point of a `need`-byte UTF-8 sequence at i, or -1 when it is not one (overlong, surrogate, cut short). */
function decodeOne(bytes: Uint8Array, i: number, need: number): number {
  if (i + need > bytes.length) return -1;
  let cp = need === 1 ? bytes[i] : bytes[i] & (0xff >> (need + 1));
  for (let k = 1; k < need; k++) {
    const c = bytes[i + k];
    if ((c & 0xc0) !== 0x80) return -1;
    cp = (cp << 6) | (c & 0x3f);
  }
  if ((need === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (need === 4 && (cp < 0x10000 || cp > 0x10ffff))) return -1;
  return cp;
}
