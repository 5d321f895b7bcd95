// One audit record: the header read eagerly, the fields on first use.
import { isUtf8 } from 'node:buffer';
import { EXECVE, recordTypeName, recordTypeNumber } from '../constants/index.js';
import {
  HEX_ENCODED_FIELDS,
  OLD_PREFIX,
  QUOTED_DOUBLE,
  QUOTED_SINGLE,
  TOKEN_WORDS,
  decodeHex,
  isEncodedHex,
  scanFields,
  scannedTokens,
} from './fields.js';

/** A field as written in the record, before hex decoding. */
export interface RawField {
  key: string;
  value: string;
  /** Whether the value was quoted (and so literal). */
  quoted: boolean;
}

export class AuditRecord {
  /** Record type number (nlmsg_type), e.g. 1300. */
  readonly type: number;
  /** Milliseconds since the epoch, from `audit(SECONDS.MILLIS:SERIAL)`; 0 if malformed. */
  readonly time: number;
  /** The event serial shared by all records of one event (32-bit, wraps); 0 if malformed. */
  readonly serial: number;
  /** The payload text exactly as received (without the netlink header, or a log line's `type=… msg=` prefix). */
  readonly text: string;
  /** The `node=` name of a log line written by a remote or named auditd. */
  readonly node: string | undefined;
  /** Why this record could not be read as the kernel writes records, when it could not. */
  readonly malformed: string | undefined;
  private readonly bodyStart: number;
  private parsed: Record<string, string> | undefined;

  constructor(type: number, text: string, node?: string, malformed?: string) {
    this.type = type;
    this.text = text;
    this.node = node;
    const h = parseHeader(text);
    if (h < 0) {
      this.time = 0;
      this.serial = 0;
      this.bodyStart = 0;
      this.malformed = malformed ?? 'no audit(SECONDS.MILLIS:SERIAL) header';
    } else {
      this.time = headerTime;
      this.serial = headerSerial;
      this.bodyStart = h;
      this.malformed = malformed;
    }
  }

  /** The name auditd prints after `type=`, e.g. 'SYSCALL', or 'UNKNOWN[1334]'. */
  get typeName(): string {
    return recordTypeName(this.type);
  }

  /**
   * Field name → value: quotes removed, hex-encoded values decoded to text. The
   * nested msg='…' of user-space records is flattened into these fields. A key
   * that appears twice keeps its last value. Computed on first use.
   */
  get fields(): Record<string, string> {
    return (this.parsed ??= this.decodeFields());
  }

  /** The fields in order, as written (hex not decoded), with whether each was quoted. */
  rawFields(): RawField[] {
    const text = this.text;
    const n = scanFields(text, this.bodyStart, text.length);
    const t = scannedTokens();
    const out: RawField[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const at = k * TOKEN_WORDS;
      const key = text.slice(t[at], t[at + 1]);
      out[k] = {
        key: t[at + 4] & OLD_PREFIX ? `old-${key}` : key,
        value: text.slice(t[at + 2], t[at + 3]),
        quoted: (t[at + 4] & (QUOTED_DOUBLE | QUOTED_SINGLE)) !== 0,
      };
    }
    return out;
  }

  toJSON(): { type: number; typeName: string; text: string; fields: Record<string, string>; malformed?: string } {
    const out: { type: number; typeName: string; text: string; fields: Record<string, string>; malformed?: string } = {
      type: this.type,
      typeName: this.typeName,
      text: this.text,
      fields: this.fields,
    };
    if (this.malformed !== undefined) out.malformed = this.malformed;
    return out;
  }

  private decodeFields(): Record<string, string> {
    const text = this.text;
    const n = scanFields(text, this.bodyStart, text.length);
    const t = scannedTokens();
    const execve = this.type === EXECVE;
    const fields: Record<string, string> = {};
    for (let k = 0; k < n; k++) {
      const at = k * TOKEN_WORDS;
      const ks = t[at];
      const ke = t[at + 1];
      const vs = t[at + 2];
      const ve = t[at + 3];
      const flags = t[at + 4];
      let key = text.slice(ks, ke);
      if (flags & OLD_PREFIX) key = `old-${key}`;
      let value: string;
      if (
        (flags & (QUOTED_DOUBLE | QUOTED_SINGLE)) === 0 &&
        (execve ? isExecveArg(text, ks, ke) : HEX_ENCODED_FIELDS.has(key)) &&
        isEncodedHex(text, vs, ve)
      ) {
        value = decodeHex(text, vs, ve);
      } else {
        value = text.slice(vs, ve);
      }
      fields[key] = value;
    }
    return fields;
  }
}

/** EXECVE's `aN` (a whole argument); `aN[i]` chunks stay raw until joined (see AuditEvent.argv). */
function isExecveArg(text: string, ks: number, ke: number): boolean {
  if (ke - ks < 2 || text.charCodeAt(ks) !== 97) return false;
  for (let i = ks + 1; i < ke; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

// parseHeader's results, in module state so the hot path returns a number, not an object.
let headerTime = 0;
let headerSerial = 0;

/**
 * Read `audit(SECONDS.MILLIS:SERIAL):` at the start of text. Returns the index
 * where the body starts, or -1. Digits are read by hand: no regex, no substring.
 */
export function parseHeader(text: string, from = 0): number {
  if (!text.startsWith('audit(', from)) return -1;
  let i = from + 6;
  const n = text.length;
  let seconds = 0;
  let digits = 0;
  let c = 0;
  while (i < n && (c = text.charCodeAt(i)) >= 48 && c <= 57) {
    seconds = seconds * 10 + (c - 48);
    i++;
    digits++;
  }
  if (digits === 0 || c !== 46 /* . */) return -1;
  i++;
  let millis = 0;
  digits = 0;
  while (i < n && (c = text.charCodeAt(i)) >= 48 && c <= 57) {
    millis = millis * 10 + (c - 48);
    i++;
    digits++;
  }
  if (digits === 0 || c !== 58 /* : */) return -1;
  i++;
  let serial = 0;
  digits = 0;
  while (i < n && (c = text.charCodeAt(i)) >= 48 && c <= 57) {
    serial = serial * 10 + (c - 48);
    i++;
    digits++;
  }
  if (digits === 0 || c !== 41 /* ) */ || serial > 0xffffffff) return -1;
  i++;
  if (i < n && text.charCodeAt(i) === 58) i++;
  headerTime = seconds * 1000 + millis;
  headerSerial = serial;
  return i;
}

const FLAG_TRUNCATED = 1 << 16;

/**
 * A record from a netlink datagram at data[offset, offset + length): 16-byte
 * header, then the text. Framed by the datagram length, never by nlmsg_len.
 */
export function decodeDatagram(data: Buffer, offset: number, length: number, typeAndFlags: number): AuditRecord {
  const type = typeAndFlags & 0xffff;
  if (length < 16) {
    return new AuditRecord(type, data.toString('latin1', offset, offset + length), undefined, `datagram of ${length} bytes is shorter than a netlink header`);
  }
  let end = offset + length;
  // The kernel does not NUL-terminate audit text, but padding may trail it.
  while (end > offset + 16 && data[end - 1] === 0) end--;
  const text = data.toString('utf8', offset + 16, end);
  let malformed: string | undefined;
  if (typeAndFlags & FLAG_TRUNCATED) malformed = 'record longer than the 16 KiB receive slot; truncated';
  // Kernel text is ASCII (untrusted bytes are hex-encoded). Other bytes show as
  // a length mismatch or a U+FFFD (a search V8 answers at once on a one-byte
  // string); only then is the full UTF-8 check paid.
  else if ((text.length !== end - offset - 16 || text.indexOf('\ufffd') >= 0) && !isUtf8(data.subarray(offset + 16, end))) {
    malformed = 'invalid UTF-8';
  }
  return new AuditRecord(type, text, undefined, malformed);
}

const GROUP_SEPARATOR = '\x1d';

/**
 * One line of auditd's log: `[node=NAME ]type=NAME msg=audit(…): body`, raw or
 * ENRICHED (the interpreted part after 0x1D is left out of `text`: it is
 * auditd's, not the kernel's, and can be recomputed).
 * Returns undefined for a blank line; a line that is not a record comes back
 * as a record marked malformed.
 */
export function parseLogLine(line: string): AuditRecord | undefined {
  let end = line.length;
  while (end > 0 && (line.charCodeAt(end - 1) === 10 || line.charCodeAt(end - 1) === 13)) end--;
  if (end === 0) return undefined;
  let i = 0;
  let node: string | undefined;
  if (line.startsWith('node=')) {
    const sp = line.indexOf(' ', 5);
    if (sp < 0) return new AuditRecord(0, line.slice(0, end), undefined, 'node= without a record after it');
    node = line.slice(5, sp);
    i = sp + 1;
  }
  if (!line.startsWith('type=', i)) return new AuditRecord(0, line.slice(i, end), node, 'no type= at the start of the line');
  const sp = line.indexOf(' ', i + 5);
  if (sp < 0) return new AuditRecord(0, line.slice(i, end), node, 'no msg= after type=');
  const type = recordTypeNumber(line.slice(i + 5, sp));
  if (!line.startsWith('msg=', sp + 1)) return new AuditRecord(Math.max(type, 0), line.slice(sp + 1, end), node, 'no msg= after type=');
  const gs = line.indexOf(GROUP_SEPARATOR, sp + 5);
  const text = line.slice(sp + 5, gs >= 0 && gs < end ? gs : end);
  if (type < 0) return new AuditRecord(0, text, node, `unknown record type ${line.slice(i + 5, sp)}`);
  return new AuditRecord(type, text, node);
}
