// One audit record: the header read eagerly, the fields on first use.
import { AVC, EXECVE, recordTypeName, recordTypeNumber } from '../constants/index.js';
import { interpretRecord } from '../interpret/index.js';
import {
  HEX_ENCODED_FIELDS,
  INNER,
  OLD_PREFIX,
  QUOTED_DOUBLE,
  QUOTED_SINGLE,
  TOKEN_WORDS,
  DECODE_LIMITS,
  DQUOTE,
  SPACE,
  SQUOTE,
  bytesMatch,
  decodeHexBytes,
  isEncodedHexBytes,
  lastScanCut,
  scanFields,
  scannedTokens,
  textBytes,
  writeText,
} from './fields.js';

/** A field as written in the record, before hex decoding. */
export interface RawField {
  key: string;
  value: string;
  /** Whether the value was quoted (and so literal). */
  quoted: boolean;
}

export interface AuditRecordJSON {
  type: number;
  typeName: string;
  text: string;
  fields: Record<string, string>;
  malformed?: string;
  cutBytes?: number;
}

/** What the decoder left out, process-wide (records are decoded lazily, wherever they are read). */
const decodeCounters = { recordsFieldsCut: 0 };

/** Records whose fields were cut at DECODE_LIMITS.maxFieldsPerRecord since the process started. */
export function decodeStats(): { recordsFieldsCut: number } {
  return { ...decodeCounters };
}

/** Buffer's own decoder, without toString()'s argument handling: this runs once per record read. */
type FastBuffer = Buffer & { utf8Slice(start: number, end: number): string };

/** @internal A record's field names in their order, and a maker of objects with those names from values in that order. */
export interface FieldsShape {
  readonly names: readonly string[];
  readonly make: (values: string[]) => Record<string, string>;
}

interface RecordExtra {
  /** What an ENRICHED log line carries after 0x1D: the logging host's meanings. */
  enrichedText: string | undefined;
  enrichedFields: Record<string, string> | undefined;
  originalLine: string | undefined;
  originalBytes: Buffer | undefined;
  cut: number | undefined;
  fieldsCut: boolean;
}

export class AuditRecord {
  /** Record type number (nlmsg_type), e.g. 1300. */
  readonly type: number;
  /** Milliseconds since the epoch, from `audit(SECONDS.MILLIS:SERIAL)`; 0 if malformed. */
  readonly time: number;
  /** The event serial shared by all records of one event (32-bit, wraps); 0 if malformed. */
  readonly serial: number;
  /** The `node=` name of a log line written by a remote or named auditd. */
  readonly node: string | undefined;
  /** Why this record could not be read as the kernel writes records, when it could not. */
  readonly malformed: string | undefined;
  private readonly bodyStart: number;
  // A live record is a view of the batch it arrived in until its text is read.
  private textValue: string | undefined;
  private readonly source: Buffer | undefined;
  private readonly sourceStart: number;
  private readonly sourceEnd: number;
  private parsed: Record<string, string> | undefined;
  private meanings: Record<string, string> | undefined;
  /** What few records have, kept apart: a record is made for every line or datagram read. */
  private extra: RecordExtra | undefined;
  private shape: FieldsShape | undefined;
  /** The textBytes write that holds this record's bytes at [sourceStart, sourceEnd), while no other write followed; -1 when none does. */
  private scratchWrite = -1;

  /** Use fromText() or parseLogLine(); this takes an already-read header. */
  constructor(
    type: number,
    text: string | undefined,
    time: number,
    serial: number,
    bodyStart: number,
    node?: string,
    malformed?: string,
    source?: Buffer,
    sourceStart = 0,
    sourceEnd = 0,
  ) {
    this.type = type;
    this.textValue = text;
    this.time = time;
    this.serial = serial;
    this.bodyStart = bodyStart;
    this.node = node;
    this.malformed = malformed;
    this.source = source;
    this.sourceStart = sourceStart;
    this.sourceEnd = sourceEnd;
  }

  /** A record from its payload text (`audit(…): body`). */
  static fromText(type: number, text: string, node?: string, malformed?: string): AuditRecord {
    const body = parseHeader(text);
    if (body < 0) {
      const why = body === TIME_OUT_OF_RANGE ? 'time in audit(SECONDS.MILLIS:SERIAL) out of range' : 'no audit(SECONDS.MILLIS:SERIAL) header';
      return new AuditRecord(type, text, 0, 0, 0, node, malformed ?? why);
    }
    return new AuditRecord(type, text, headerTime, headerSerial, body, node, malformed);
  }

  /** The payload text exactly as received (without the netlink header, or a log line's `type=… msg=` prefix). */
  get text(): string {
    return (this.textValue ??= (this.source as FastBuffer).utf8Slice(this.sourceStart, this.sourceEnd));
  }

  /** The payload's size in UTF-8 bytes; a live record's without making its text. */
  get byteLength(): number {
    return this.source !== undefined ? this.sourceEnd - this.sourceStart : Buffer.byteLength(this.text);
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

  /**
   * Field name → meaning, as libauparse words it: `syscall` → `execve`,
   * `exit` → `EACCES(Permission denied)`, `auid` → a user name or `unset`,
   * `saddr` → `{ saddr_fam=inet laddr=10.0.0.5 lport=443 }`. Computed on first use.
   */
  get interpreted(): Record<string, string> {
    return (this.meanings ??= interpretRecord(this));
  }

  /**
   * The meanings an ENRICHED log line carries after its 0x1D separator, keyed
   * as auditd writes them (`AUID`, `UID`, `SYSCALL`), quotes removed: the
   * logging host's names for its own ids. Undefined for other records.
   */
  get enriched(): Record<string, string> | undefined {
    const extra = this.extra;
    if (extra?.enrichedText === undefined) return undefined;
    if (extra.enrichedFields === undefined) {
      const text = extra.enrichedText;
      writeText(text);
      useScan(textBytes.bytes, 0, textBytes.ascii, text);
      const n = scanFields(textBytes.bytes, 0, textBytes.length);
      const t = scannedTokens();
      const fields: Record<string, string> = Object.create(null) as Record<string, string>;
      for (let k = 0; k < n; k++) {
        const at = k * TOKEN_WORDS;
        fields[scanned(t[at], t[at + 1])] = scanned(t[at + 2], t[at + 3]);
      }
      extra.enrichedFields = fields;
    }
    return extra.enrichedFields;
  }

  private extras(): RecordExtra {
    return (this.extra ??= { enrichedText: undefined, enrichedFields: undefined, originalLine: undefined, originalBytes: undefined, cut: undefined, fieldsCut: false });
  }

  /** @internal parseLogLine keeps what follows 0x1D. */
  setEnrichedText(text: string): void {
    this.extras().enrichedText = text;
  }

  /**
   * The log line this record was read from, as read, when the record could not
   * be read as one (malformed): raw output writes it back unchanged rather
   * than a rewritten `type=UNKNOWN[0]` line. Undefined otherwise.
   */
  get line(): string | undefined {
    return this.extra?.originalLine;
  }

  /**
   * The bytes of the log line this record was read from, when they are not
   * valid UTF-8: `text` and the fields hold U+FFFD in place of the bad bytes,
   * raw output writes these back unchanged, JSON gives them as `lineHex`.
   */
  get lineBytes(): Buffer | undefined {
    return this.extra?.originalBytes;
  }

  /** @internal The log reader marks what it cut or found not UTF-8, and keeps the bytes. */
  markMalformed(why: string, bytes?: Buffer): void {
    (this as { malformed: string | undefined }).malformed = this.malformed !== undefined ? `${this.malformed}; ${why}` : why;
    if (bytes !== undefined) this.extras().originalBytes = bytes;
  }

  /**
   * Bytes of argument or title the agent's argv cap (`forward
   * --max-argv-bytes`) left out of this record, which it rewrote; undefined
   * for a record as the kernel wrote it.
   */
  get cutBytes(): number | undefined {
    return this.extra?.cut;
  }

  /** @internal The argv cap marks the records it writes. */
  markCut(bytes: number): this {
    this.extras().cut = bytes;
    return this;
  }

  /** A record past DECODE_LIMITS.maxFieldsPerRecord: marked once, counted once. */
  private noteFieldsCut(): void {
    const extra = this.extras();
    if (extra.fieldsCut) return;
    extra.fieldsCut = true;
    decodeCounters.recordsFieldsCut++;
    this.markMalformed(`more than ${DECODE_LIMITS.maxFieldsPerRecord} fields: the rest not read`);
  }

  /** @internal parseLogLine's line is in textBytes (this record's at [sourceStart, sourceEnd)) until the next write. */
  inScratch(): this {
    this.scratchWrite = textBytes.generation;
    return this;
  }

  /** @internal parseLogLine keeps the line of a record it could not read. */
  keepLine(line: string): this {
    this.extras().originalLine = line;
    return this;
  }

  /** The fields in order, as written (hex not decoded), with whether each was quoted. */
  rawFields(): RawField[] {
    const n = this.scan();
    const out: RawField[] = new Array(n);
    for (let k = 0; k < n; k++) out[k] = this.rawAt(k * TOKEN_WORDS);
    return out;
  }

  /**
   * The field named `key` as written (hex not decoded), with whether it was
   * quoted: the record's own first such field, or when it has none, the
   * first inside its msg='…' (what rawFields() lists, without an object per
   * field). The reader thread names an event's key, pid and ppid the same way
   * (native/record.h). `key` is a field name as the kernel writes them,
   * ASCII: its characters are compared with the record's bytes.
   */
  rawField(key: string): RawField | undefined {
    const n = this.scan();
    const t = scannedTokens();
    const b = scanBytes;
    // `old auid=` (the pre-3.x LOGIN form) is old-auid, as `old-auid=` is.
    const unprefixed = key.startsWith('old-') ? key.slice(4) : undefined;
    let inner = -1;
    for (let k = 0; k < n; k++) {
      const at = k * TOKEN_WORDS;
      const flags = t[at + 4];
      const name = (flags & OLD_PREFIX) === 0 ? key : unprefixed;
      if (name === undefined || t[at + 1] - t[at] !== name.length || !bytesMatch(b, t[at], name)) continue;
      if ((flags & INNER) === 0) return this.rawAt(at);
      if (inner < 0) inner = at;
    }
    return inner < 0 ? undefined : this.rawAt(inner);
  }

  private rawAt(at: number): RawField {
    const t = scannedTokens();
    const key = scanned(t[at], t[at + 1]);
    return { key: t[at + 4] & OLD_PREFIX ? `old-${key}` : key, value: scanned(t[at + 2], t[at + 3]), quoted: (t[at + 4] & (QUOTED_DOUBLE | QUOTED_SINGLE)) !== 0 };
  }

  toJSON(): AuditRecordJSON {
    return {
      type: this.type,
      typeName: this.typeName,
      text: this.text,
      fields: this.fields,
      ...(this.malformed !== undefined && { malformed: this.malformed }),
      ...(this.extra?.cut !== undefined && { cutBytes: this.extra.cut }),
    };
  }

  private decodeFields(): Record<string, string> {
    const fields = this.scanAndBuild();
    // An AVC record opens with prose libauparse reads as two fields:
    // `avc:  denied  { read write } for` → seresult=denied, seperms=read,write.
    const verdict = this.type === AVC ? avcVerdict(this.text, this.bodyStart) : undefined;
    if (verdict !== undefined) return avcFields(verdict, fields);
    if (builtLayout !== undefined && builtLayout.ordered) this.shape = builtLayout as FieldsShape;
    return fields;
  }

  /**
   * @internal The names of `fields` in their order and a maker of objects
   * with those names, when the decoder made `fields` from a layout; for
   * interpretation, which then need not look each name up.
   */
  fieldsShape(): FieldsShape | undefined {
    void this.fields;
    return this.shape;
  }

  /**
   * Scan this record's fields from its bytes: a live record's where they
   * arrived, a log record's written out of its text. Leaves the scan's source
   * for scanned().
   */
  private scan(): number {
    return this.scanBytes(this.useBytes());
  }

  /** scan() over the bytes useBytes() returned. */
  private scanBytes(bytes: Uint8Array): number {
    const n = scanFields(bytes, bodyFrom, bodyTo);
    if (lastScanCut()) this.noteFieldsCut();
    return n;
  }

  /** Points scanned() at this record's bytes and bodyFrom, bodyTo at its fields; returns the bytes. */
  private useBytes(): Uint8Array {
    const text = this.text;
    // A live record's batch or a log chunk the reader copied; or, read right
    // after parseLogLine wrote its line out, the bytes still there.
    const bytes = this.source ?? (this.scratchWrite === textBytes.generation ? textBytes.bytes : undefined);
    if (bytes !== undefined) {
      useScan(bytes, this.sourceStart, text.length === this.sourceEnd - this.sourceStart, text);
      bodyFrom = this.sourceStart + this.bodyStart;
      bodyTo = this.sourceEnd;
      return bytes;
    }
    writeText(text);
    useScan(textBytes.bytes, 0, textBytes.ascii, text);
    // The header is ASCII: bodyStart is a byte offset too.
    bodyFrom = this.bodyStart;
    bodyTo = textBytes.length;
    return textBytes.bytes;
  }

  private scanAndBuild(): Record<string, string> {
    // Most records have the fields of the last record of their type, in the
    // same order: read them into that layout in one pass, without the token
    // pass and the name lookups.
    const bytes = this.useBytes();
    if (this.type < TYPE_SLOTS) {
      const slot = this.type * 2;
      const execve = this.type === EXECVE;
      const first = typeLayouts[slot];
      if (first !== undefined) {
        let fields = readerOf(first, execve)(bytes, bodyFrom, bodyTo);
        if (fields !== undefined) {
          builtLayout = first;
          return fields;
        }
        const second = typeLayouts[slot + 1];
        fields = second === undefined ? undefined : readerOf(second, execve)(bytes, bodyFrom, bodyTo);
        if (fields !== undefined) {
          typeLayouts[slot] = second;
          typeLayouts[slot + 1] = first;
          builtLayout = second;
          return fields;
        }
      }
    }
    let n = this.scanBytes(bytes);
    const b = scanBytes;
    const t = scannedTokens();
    for (let k = 0; k < n; k++) {
      if ((t[k * TOKEN_WORDS + 4] & INNER) !== 0) {
        n = dropShadowedInner(t, n);
        break;
      }
    }
    const execve = this.type === EXECVE;
    if (n > layoutKeys.length) {
      layoutKeys = new Array(n * 2);
      layoutValues = new Array(n * 2);
    }
    // Most records have the keys of the previous record of their type and
    // field count: check that guess with one comparison per key before looking
    // names up.
    const guessSlot = this.type * 256 + Math.min(n, 255);
    const guess = lastLayout.get(guessSlot);
    const guessKeys = guess !== undefined && guess.keys.length === n ? guess.keys : undefined;
    let guessed = guessKeys !== undefined;
    let signature = n;
    for (let k = 0; k < n; k++) {
      const at = k * TOKEN_WORDS;
      const ks = t[at];
      const ke = t[at + 1];
      const vs = t[at + 2];
      const ve = t[at + 3];
      const flags = t[at + 4];
      let key: KeyInfo;
      if (guessed && (flags & OLD_PREFIX) === 0 && guessKeys![k].name.length === ke - ks && bytesMatch(b, ks, guessKeys![k].name)) {
        key = guessKeys![k];
      } else {
        guessed = false;
        key = flags & OLD_PREFIX ? oldKeyInfo(scanned(ks, ke)) : keyInfo(b, ks, ke);
      }
      layoutKeys[k] = key;
      layoutValues[k] =
        (flags & (QUOTED_DOUBLE | QUOTED_SINGLE)) === 0 && (execve ? key.execveArg : key.hexEncoded) && isEncodedHexBytes(b, vs, ve)
          ? decodeHexBytes(b, vs, ve)
          : scanned(vs, ve);
      signature = (Math.imul(signature, 31) + key.id) | 0;
    }
    if (guessed && guess!.make !== undefined) {
      rememberType(this.type, guess!);
      builtLayout = guess;
      return guess!.make(layoutValues);
    }
    return buildFields(this.type, guessSlot, signature, n);
  }
}

/** The fields of the record being read (useBytes). */
let bodyFrom = 0;
let bodyTo = 0;

/**
 * A user message's own fields come first, then those of its msg='…': a field
 * inside the message that a field of the record's own already names is
 * dropped (its pid must not become the record's pid). Compacts the tokens;
 * returns how many remain. Only user records with a nested message get here.
 */
function dropShadowedInner(t: Int32Array, n: number): number {
  const outer = new Set<string>();
  for (let k = 0; k < n; k++) {
    const at = k * TOKEN_WORDS;
    if ((t[at + 4] & INNER) === 0) outer.add(scanned(t[at], t[at + 1]));
  }
  let kept = 0;
  for (let k = 0; k < n; k++) {
    const at = k * TOKEN_WORDS;
    if ((t[at + 4] & INNER) !== 0 && outer.has(scanned(t[at], t[at + 1]))) continue;
    if (kept !== k) t.copyWithin(kept * TOKEN_WORDS, at, at + TOKEN_WORDS);
    kept++;
  }
  return kept;
}

/** `avc:  denied  { perm perm } for` at the start of an AVC record's body: [result, perms], or undefined. */
function avcVerdict(text: string, body: number): [string, string] | undefined {
  let i = body;
  while (text.charCodeAt(i) === 32) i++;
  if (!text.startsWith('avc:', i)) return undefined;
  const open = text.indexOf('{', i);
  const close = open < 0 ? -1 : text.indexOf('}', open);
  if (close < 0) return undefined;
  const result = text.slice(i + 4, open).trim();
  const perms = text.slice(open + 1, close).trim().split(/ +/).join(',');
  return [result, perms];
}

function avcFields([result, perms]: [string, string], rest: Record<string, string>): Record<string, string> {
  const fields: Record<string, string> = { seresult: result, seperms: perms };
  for (const key of Object.keys(rest)) {
    if (key === '__proto__') Object.defineProperty(fields, key, { value: rest[key], enumerable: true, writable: true, configurable: true });
    else fields[key] = rest[key];
  }
  return fields;
}

interface KeyInfo {
  name: string;
  /** Small positive number for cached names, 0 for names seen only once (not cached). */
  id: number;
  hexEncoded: boolean;
  execveArg: boolean;
  /** The name is `msg`: single-quoted, it holds a user message's own fields. */
  msg: boolean;
}

// Field names repeat across millions of records. Reusing one string per name
// saves an allocation and V8's internalizing lookup on every assignment. Found
// by a signature of length and three characters, then checked in full.
// Bounded, in all and per signature: hostile records may carry any names
// (EXECVE's a0[0] … a0[9999] share one signature), and those miss the cache
// rather than make every lookup walk thousands of look-alikes.
const keyCache = new Map<number, KeyInfo[]>();
let keyCacheSize = 0;
const KEY_CACHE_LIMIT = 4096;
const KEY_BUCKET_LIMIT = 8;

/** The KeyInfo for the scanned key bytes[ks, ke). */
function keyInfo(bytes: Uint8Array, ks: number, ke: number): KeyInfo {
  const len = ke - ks;
  const sig = len * 0x1000000 + bytes[ks] * 0x10000 + (len > 1 ? bytes[ks + 1] : 0) * 0x100 + bytes[ke - 1];
  const bucket = keyCache.get(sig);
  if (bucket !== undefined) {
    for (let b = 0; b < bucket.length; b++) {
      const info = bucket[b];
      if (info.name.length === len && bytesMatch(bytes, ks, info.name)) return info;
    }
  }
  const name = scanned(ks, ke);
  const info: KeyInfo = { name, id: 0, hexEncoded: HEX_ENCODED_FIELDS.has(name), execveArg: isExecveArg(name), msg: name === 'msg' };
  // Cached names are ASCII, so that their characters compare with bytes.
  if (name.length === len && keyCacheSize < KEY_CACHE_LIMIT && (bucket === undefined || bucket.length < KEY_BUCKET_LIMIT)) {
    info.id = ++keyCacheSize;
    if (bucket) bucket.push(info);
    else keyCache.set(sig, [info]);
  }
  return info;
}

/** `old-auid` and the like (pre-3.x LOGIN records): rare, not cached, so their layouts are built by assignment. */
function oldKeyInfo(key: string): KeyInfo {
  const name = `old-${key}`;
  return { name, id: 0, hexEncoded: HEX_ENCODED_FIELDS.has(name), execveArg: false, msg: false };
}

// Where the last scan read (AuditRecord.scan): token offsets are bytes of
// scanBytes; the record's text starts at scanBase, and when the bytes are
// ASCII its characters are at the same offsets, so a value is a slice of the
// text (V8 makes those cheaply); otherwise it is decoded from the bytes.
let scanBytes: Uint8Array = Buffer.alloc(0);
let scanBase = 0;
let scanAscii = true;
let scanText = '';

function useScan(bytes: Uint8Array, base: number, ascii: boolean, text: string): void {
  scanBytes = bytes;
  scanBase = base;
  scanAscii = ascii;
  scanText = text;
}

/** The text of the scanned bytes [start, end). */
function scanned(start: number, end: number): string {
  return scanAscii ? scanText.slice(start - scanBase, end - scanBase) : (scanBytes as FastBuffer).utf8Slice(start, end);
}

// A record's fields object. Assigning 20-30 different keys one by one to a
// fresh object runs V8's generic keyed store for each: at ~1 µs per record it
// was the decoder's main cost. Records of one kind have the same keys in the
// same order, so for each such layout seen twice we compile an object literal
// (V8 creates those from a boilerplate, about 5x faster). Bounded in number;
// layouts past the bound, with uncached names, or with __proto__ (which a
// literal would take as the prototype) use plain assignment.
interface Layout {
  keys: KeyInfo[];
  names: string[];
  /** No name is an array index: the object's properties are in the keys' order (V8 puts index keys first). */
  ordered: boolean;
  make: ((values: string[]) => Record<string, string>) | undefined;
  /** compileReader's reader of these keys, for records other than EXECVE; null when there is none. */
  reader: Reader | null | undefined;
  /** The same for EXECVE records, whose aN are hex-decoded. */
  execveReader: Reader | null | undefined;
}
const layouts = new Map<number, Layout>();
/** The layout the last record of each type and field count had. */
const lastLayout = new Map<number, Layout>();
const LAYOUT_LIMIT = 1024;
/** Record types below this have a slot in typeLayouts (the kernel's and auditd's are below 3000). */
const TYPE_SLOTS = 4096;
/**
 * The layouts the last records of each type had, with their readers, two per
 * type (at 2 × type the last, then the one before): the guesses for the
 * next. Two, because PATH records alternate between a file that exists and
 * one that does not.
 */
const typeLayouts: (Layout | undefined)[] = new Array<Layout | undefined>(2 * TYPE_SLOTS).fill(undefined);
/** The layout of the object scanAndBuild returned last, when it was made from one. */
let builtLayout: Layout | undefined;
let layoutKeys: KeyInfo[] = new Array(256);
let layoutValues: string[] = new Array(256);
let compileAllowed = true;

function buildFields(type: number, guessSlot: number, signature: number, n: number): Record<string, string> {
  const layout = layouts.get(signature);
  if (layout !== undefined && layout.keys.length === n) {
    let same = true;
    for (let k = 0; k < n; k++) {
      if (layout.keys[k] !== layoutKeys[k]) {
        same = false;
        break;
      }
    }
    if (same) {
      if (layout.make === undefined && compileAllowed) layout.make = compileLayout(layout.keys);
      if (layout.make !== undefined) {
        if (lastLayout.size < LAYOUT_LIMIT) lastLayout.set(guessSlot, layout);
        rememberType(type, layout);
        builtLayout = layout;
        return layout.make(layoutValues);
      }
    }
  } else if (layout === undefined && layouts.size < LAYOUT_LIMIT && compileAllowed) {
    let cacheable = true;
    for (let k = 0; k < n; k++) if (layoutKeys[k].id === 0 || layoutKeys[k].name === '__proto__') cacheable = false;
    if (cacheable) {
      const keys = layoutKeys.slice(0, n);
      const names = keys.map((key) => key.name);
      layouts.set(signature, { keys, names, ordered: !names.some(isArrayIndex), make: undefined, reader: undefined, execveReader: undefined });
    }
  }
  builtLayout = undefined;
  const fields: Record<string, string> = {};
  for (let k = 0; k < n; k++) {
    const name = layoutKeys[k].name;
    if (name === '__proto__') Object.defineProperty(fields, name, { value: layoutValues[k], enumerable: true, writable: true, configurable: true });
    else fields[name] = layoutValues[k];
  }
  return fields;
}

function compileLayout(keys: KeyInfo[]): Layout['make'] {
  const body = keys.map((key, i) => `${JSON.stringify(key.name)}: v[${i}]`).join(', ');
  try {
    return new Function('v', `return { ${body} };`) as Layout['make'];
  } catch {
    // Code generation from strings is disabled in this process: assign instead.
    compileAllowed = false;
    return undefined;
  }
}

/**
 * Reads a record's body bytes[start, end) when its fields are exactly one
 * layout's keys, in order, with nothing else; undefined at the first
 * difference (another key, a bare word, a nested msg='…', more fields), for
 * the caller to scan.
 */
type Reader = (b: Uint8Array, start: number, end: number) => Record<string, string> | undefined;

/** Layouts with more fields are read by the scan (EXECVE of many arguments): a reader's code grows with its fields. */
const MAX_READER_FIELDS = 128;

/**
 * Most records have the fields of the last record of their type, in the same
 * order. For such a layout we compile its own reader: `name=` compared with
 * constant words, values found four bytes at a time, each value a local, the
 * object a literal. It is what scanFields and the loop in scanAndBuild would
 * make of the record, in one pass. The loop over the layout's keys it
 * replaces read each name's characters from its string, byte by byte, and
 * stored each value in a shared array (a write barrier per field): with it,
 * parsing and decoding a log line took about a fifth longer. Bounded like
 * the layouts.
 */
function compileReader(keys: KeyInfo[], execve: boolean): Reader | null {
  if (keys.length > MAX_READER_FIELDS || !compileAllowed) return null;
  // At the limit the scan cuts the record and marks it: leave such records to it.
  const code = [
    `if (limits.maxFieldsPerRecord <= ${keys.length}) return undefined;`,
    'const d = view(b);',
    'let i = start, c = 0, q = 0, x = 0, n = 0, w0 = 0, w1 = 0;',
  ];
  // Each value's last short string, kept by the reader between records.
  const kept: string[] = [];
  // The value at [q, i) into v<k>: the last string again when its bytes are
  // the same. Most values are short and repeat from record to record of a
  // kind (uid=0, success=yes, arch=c000003e, the pid of a busy process), and
  // a short slice is a new string: a copy, made and collected per field per
  // record (a probe: 170 instructions a value; parsing and decoding
  // getppid-shaped SYSCALL lines took 0.83-0.89 of the time with this, a
  // capture's lines 0.96). Up to MEMO_BYTES bytes, compared as two masked
  // words; only ASCII, so that the same bytes are the same string whichever
  // way `s` reads them. A quoted value has its own memo: the same bytes bare
  // may be hex to decode.
  const value = (slot: string, k: number, make: string): string => {
    kept.push(`let n${slot} = -1, a${slot} = 0, b${slot} = 0, s${slot} = '';`);
    return (
      `n = i - q; if (n <= ${MEMO_BYTES} && q + ${MEMO_BYTES} <= b.length && ` +
      `(((w0 = d.getInt32(q, true) & M0[n]) | (w1 = d.getInt32(q + 4, true) & M1[n])) & 0x80808080) === 0) {` +
      ` if (n === n${slot} && w0 === a${slot} && w1 === b${slot}) v${k} = s${slot};` +
      ` else { v${k} = ${make}; n${slot} = n; a${slot} = w0; b${slot} = w1; s${slot} = v${k}; } }` +
      ` else v${k} = ${make};`
    );
  };
  keys.forEach((key, k) => {
    const word = `${key.name}=`;
    // `name=` compared four bytes at a time (little-endian words), then byte by byte.
    const tests: string[] = [];
    let j = 0;
    for (; j + 4 <= word.length; j += 4) {
      const w = word.charCodeAt(j) | (word.charCodeAt(j + 1) << 8) | (word.charCodeAt(j + 2) << 16) | (word.charCodeAt(j + 3) << 24);
      tests.push(`d.getInt32(i + ${j}, true) !== ${w}`);
    }
    for (; j < word.length; j++) tests.push(`b[i + ${j}] !== ${word.charCodeAt(j)}`);
    code.push(
      `while (i < end && b[i] === ${SPACE}) i++;`,
      `if (end - i < ${word.length} || ${tests.join(' || ')}) return undefined;`,
      `i += ${word.length};`,
      'c = i < end ? b[i] : -1;',
      `let v${k};`,
    );
    // A single-quoted msg holds a user message's own fields: the scan reads those.
    if (key.msg) code.push(`if (c === ${SQUOTE}) return undefined;`);
    code.push(`if (c === ${DQUOTE} || c === ${SQUOTE}) { q = ++i; while (i < end && b[i] !== c) i++; ${value(`${k}q`, k, 's(q, i)')} i++; }`);
    const decoded = execve ? key.execveArg : key.hexEncoded;
    // The value runs to the next space: found four bytes at a time (a zero byte of x ^ 0x20202020).
    code.push(
      'else { q = i;',
      `for (;;) { if (end - i < 4) { while (i < end && b[i] !== ${SPACE}) i++; break; }`,
      'x = d.getInt32(i, true) ^ 0x20202020; x = (x - 0x01010101) & ~x & 0x80808080;',
      'if (x !== 0) { i += (31 - Math.clz32(x & -x)) >> 3; break; } i += 4; }',
      `${value(`${k}`, k, decoded ? '(hex(b, q, i) ? dec(b, q, i) : s(q, i))' : 's(q, i)')} }`,
    );
  });
  code.push(`while (i < end && b[i] === ${SPACE}) i++;`, 'if (i < end) return undefined;');
  code.push(`return { ${keys.map((key, k) => `${JSON.stringify(key.name)}: v${k}`).join(', ')} };`);
  try {
    const factory = new Function('s', 'hex', 'dec', 'limits', 'view', 'M0', 'M1', `${kept.join('\n')}\nreturn function read(b, start, end) {\n${code.join('\n')}\n};`);
    return factory(scanned, isEncodedHexBytes, decodeHexBytes, DECODE_LIMITS, viewOf, ...MEMO_MASKS) as Reader;
  } catch {
    compileAllowed = false;
    return null;
  }
}

// A reader keeps values up to this many bytes (see compileReader): two words.
// (Three, for values such as 4294967295, read the capture a little slower.)
const MEMO_BYTES = 8;
// For a value of n bytes, n <= MEMO_BYTES, the mask of its bytes in each of the two little-endian words it starts.
const MEMO_MASKS = [0, 1].map((w) =>
  Int32Array.from({ length: MEMO_BYTES + 1 }, (_, n) => {
    const bytes = Math.min(4, Math.max(0, n - 4 * w));
    return bytes === 4 ? -1 : (1 << (8 * bytes)) - 1;
  }),
);

// A DataView of the bytes being read, for readers' word reads; made again only when the bytes change.
let viewBytes: Uint8Array | undefined;
let view: DataView = new DataView(new ArrayBuffer(0));

function viewOf(b: Uint8Array): DataView {
  if (b !== viewBytes) {
    viewBytes = b;
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  return view;
}

/** A layout's reader for records of this kind (typeLayouts holds only layouts that have it). */
function readerOf(layout: Layout, execve: boolean): Reader {
  return (execve ? layout.execveReader : layout.reader)!;
}

// What a new reader is first run on, each value given to every field: bare
// and quoted, short and longer than a kept value, the same again and then
// another, upper-case hex (decoded in the fields the kernel encodes), and
// empty at the end of the bytes.
const PRIME_VALUES = ['1', '1', '2', '"a"', '"a"', '"b"', '0123456789AB', '0123456789AB', '0123456789CD', '"abcdefghijkl"', '"abcdefghijkl"', '"abcdefghijmn"', ''];

/**
 * Runs a new reader over records of its keys that take each of its paths,
 * so that V8 has seen every path before it optimizes the reader. Otherwise
 * the first record to take a path the reader had not taken (a `key=(null)`
 * among quoted keys, a long value among short ones) throws its optimized
 * code away: V8 then runs it unoptimized while compiling it again, which for
 * a SYSCALL reader took 100-270 ms on the test VM (`node --trace-opt
 * --trace-deopt`), and the capture, read twice in one stream, slowed to
 * half its speed for some 70,000 records after the few auditctl and
 * CONFIG_CHANGE lines that end and begin it. What the reader keeps from
 * these records is compared by bytes, as every kept value is. The scan is
 * left as it was: this runs while a record is being decoded.
 */
function primeReader(reader: Reader, keys: KeyInfo[]): void {
  const bytes = scanBytes;
  const base = scanBase;
  const ascii = scanAscii;
  const text = scanText;
  for (const value of PRIME_VALUES) {
    const line = keys.map((key) => `${key.name}=${value}`).join(' ');
    const b = Buffer.from(line, 'latin1');
    useScan(b, 0, true, line);
    reader(b, 0, b.length);
  }
  useScan(bytes, base, ascii, text);
}

/** The record type's next first guess: this layout's reader. */
function rememberType(type: number, layout: Layout): void {
  if (type >= TYPE_SLOTS) return;
  const execve = type === EXECVE;
  let reader = execve ? layout.execveReader : layout.reader;
  if (reader === undefined) {
    reader = compileReader(layout.keys, execve);
    if (reader !== null) primeReader(reader, layout.keys);
    if (execve) layout.execveReader = reader;
    else layout.reader = reader;
  }
  if (reader === null || typeLayouts[2 * type] === layout) return;
  typeLayouts[2 * type + 1] = typeLayouts[2 * type];
  typeLayouts[2 * type] = layout;
}

/** A canonical array index ("0", "17"): V8 orders such keys before the others. */
function isArrayIndex(name: string): boolean {
  return /^(?:0|[1-9][0-9]{0,9})$/.test(name) && Number(name) < 0xffffffff;
}

/** EXECVE's `aN` (a whole argument); `aN[i]` chunks stay raw until joined (see AuditEvent.argv). */
function isExecveArg(name: string): boolean {
  if (name.length < 2 || name.charCodeAt(0) !== 97) return false;
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** parseHeader's answer for a header whose time is out of range (see parseHeaderBytes). */
export const TIME_OUT_OF_RANGE = -2;
const MAX_SECONDS = 0xffffffff;

// parseHeader's results, in module state so the hot path returns a number, not an object.
let headerTime = 0;
let headerSerial = 0;
// The last header read whole, `audit(…)` (at most 64 bytes), and what it said.
const lastHeaderBytes = new Uint8Array(64);
const lastHeaderView = new DataView(lastHeaderBytes.buffer);
let lastHeaderLength = 0;
/**
 * Where its `.` is, and the seconds before it: kept, not derived from
 * lastHeaderTime (with a division per event the capture's lines parsed in
 * 1.00-1.07x the time, in a probe).
 */
let lastHeaderDot = 0;
let lastHeaderSeconds = 0;
let lastHeaderTime = 0;
let lastHeaderSerial = 0;

/**
 * Read `audit(SECONDS.MILLIS:SERIAL):` at the start of text. Returns the index
 * where the body starts, -1, or TIME_OUT_OF_RANGE.
 */
export function parseHeader(text: string): number {
  writeText(text);
  // Everything before the body is the ASCII header: the byte offset is the text's.
  return parseHeaderBytes(textBytes.bytes, 0, textBytes.length);
}

/** parseHeader over bytes[from, end). Digits are read by hand: no regex, no substring. */
function parseHeaderBytes(b: Uint8Array, from: number, end: number): number {
  // The records of one event share their header: compared with the last one
  // read, four bytes at a time, it need not be read digit by digit again.
  const n = lastHeaderLength;
  // How many of its first bytes are the last header's.
  let same = 0;
  if (n !== 0 && end - from >= n) {
    const d = viewOf(b);
    let j = 0;
    while (j + 4 <= n && d.getInt32(from + j, true) === lastHeaderView.getInt32(j, true)) j += 4;
    if (j + 4 > n) {
      while (j < n && b[from + j] === lastHeaderBytes[j]) j++;
      if (j === n) {
        headerTime = lastHeaderTime;
        headerSerial = lastHeaderSerial;
        return from + n < end && b[from + n] === 58 ? from + n + 1 : from + n;
      }
    }
    same = j;
  }
  let i: number;
  let seconds = 0;
  let digits = 0;
  let c = 0;
  if (lastHeaderDot !== 0 && same >= lastHeaderDot && b[from + lastHeaderDot] === 46) {
    // `audit(SECONDS.` as the last header had it (another event of the same second).
    seconds = lastHeaderSeconds;
    i = from + lastHeaderDot + 1;
  } else {
    if (!startsAt(b, from, end, AUDIT_PREFIX)) return -1;
    i = from + 6;
    while (i < end && (c = b[i]) >= 48 && c <= 57) {
      seconds = seconds * 10 + (c - 48);
      i++;
      digits++;
    }
    if (digits === 0 || i === end || c !== 46 /* . */) return -1;
    i++;
  }
  const dot = i - 1 - from;
  let millis = 0;
  digits = 0;
  while (i < end && (c = b[i]) >= 48 && c <= 57) {
    millis = millis * 10 + (c - 48);
    i++;
    digits++;
  }
  if (digits === 0 || i === end || c !== 58 /* : */) return -1;
  // The kernel writes %03lu milliseconds. Seconds past 32 bits (the year
  // 2106) do not fit the reader thread's batch index (native/record.h refuses
  // them too), and past what a Date holds would become NaN dates.
  if (digits > 3 || seconds > MAX_SECONDS) return TIME_OUT_OF_RANGE;
  i++;
  let serial = 0;
  digits = 0;
  while (i < end && (c = b[i]) >= 48 && c <= 57) {
    serial = serial * 10 + (c - 48);
    i++;
    digits++;
  }
  if (digits === 0 || i === end || c !== 41 /* ) */ || serial > 0xffffffff) return -1;
  i++;
  const length = i - from;
  if (length <= lastHeaderBytes.length) {
    // Four bytes at a time: byte by byte, this copy was a fifth of the function's time.
    const d = viewOf(b);
    let j = 0;
    for (; j + 4 <= length; j += 4) lastHeaderView.setInt32(j, d.getInt32(from + j, true), true);
    for (; j < length; j++) lastHeaderBytes[j] = b[from + j];
    lastHeaderLength = length;
    lastHeaderDot = dot;
    lastHeaderSeconds = seconds;
    lastHeaderTime = seconds * 1000 + millis;
    lastHeaderSerial = serial;
  }
  if (i < end && b[i] === 58) i++;
  headerTime = seconds * 1000 + millis;
  headerSerial = serial;
  return i;
}

/**
 * An ASCII word of four to eight bytes that a line's prefix is compared
 * with: its first four bytes as one little-endian word, then the rest. Every
 * line is compared with three or four of them; a loop over the word's
 * characters cost a tenth of reading a log.
 */
interface Prefix {
  length: number;
  head: number;
  tail: Uint8Array;
}

function prefixOf(word: string): Prefix {
  const bytes = Buffer.from(word, 'latin1');
  return { length: bytes.length, head: bytes.readInt32LE(0), tail: bytes.subarray(4) };
}

const NODE_PREFIX = prefixOf('node=');
const TYPE_PREFIX = prefixOf('type=');
const MSG_PREFIX = prefixOf('msg=');
const AUDIT_PREFIX = prefixOf('audit(');

/** bytes[at, end) starts with the prefix. */
function startsAt(b: Uint8Array, at: number, end: number, p: Prefix): boolean {
  if (end - at < p.length || viewOf(b).getInt32(at, true) !== p.head) return false;
  const tail = p.tail;
  for (let j = 0; j < tail.length; j++) if (b[at + 4 + j] !== tail[j]) return false;
  return true;
}

const GROUP_SEPARATOR = 0x1d;

// Log lines name their record type; consecutive lines mostly repeat a few
// names. The last name seen for each length is checked in place before a
// string and a table lookup are paid.
// Names are compared as bytes (lastTypeBytes holds the one of length n at 32 × n).
const lastTypeBytes = new Uint8Array(32 * 32);
const lastTypeNumber: number[] = new Array<number>(32).fill(-1);

function typeAt(b: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len < 32 && lastTypeNumber[len] >= 0) {
    let j = 0;
    while (j < len && b[start + j] === lastTypeBytes[32 * len + j]) j++;
    if (j === len) return lastTypeNumber[len];
  }
  const name = scanned(start, end);
  const type = recordTypeNumber(name);
  // Known names are ASCII: their bytes are their characters.
  if (len < 32 && type >= 0 && name.length === len) {
    for (let j = 0; j < len; j++) lastTypeBytes[32 * len + j] = b[start + j];
    lastTypeNumber[len] = type;
  }
  return type;
}

/**
 * One line of auditd's log: `[node=NAME ]type=NAME msg=audit(…): body`, raw or
 * ENRICHED (the interpreted part after 0x1D is left out of `text`, which is
 * the kernel's; it is kept as `record.enriched`, and interpretation prefers
 * its names: they are the logging host's).
 * Returns undefined for a blank line; a line that is not a record comes back
 * as a record marked malformed.
 */
export function parseLogLine(line: string): AuditRecord | undefined {
  writeText(line);
  const b = textBytes.bytes;
  const n = textBytes.length;
  useScan(b, 0, textBytes.ascii, line);
  // ASCII: a memchr over the string, whose offsets are the bytes'.
  const gs = textBytes.ascii ? line.indexOf('\x1d') : byteAt(b, GROUP_SEPARATOR, 0, n);
  return parseLineAt(b, 0, n, gs < 0 ? n : gs, undefined);
}

/**
 * @internal parseLogLine for the line at [start, end) of ASCII `bytes` whose
 * text is `text` (the same characters at the same offsets): the log reader
 * reads a chunk's lines in place, without writing each out. The records keep
 * `bytes` (their fields are scanned there): the reader owns them.
 */
export function parseLogBytes(bytes: Buffer, text: string, start: number, end: number, groupSeparator: number): AuditRecord | undefined {
  useScan(bytes, 0, true, text);
  return parseLineAt(bytes, start, end, groupSeparator, bytes);
}

/** The first `byte` in b[from, end), or -1. */
function byteAt(b: Uint8Array, byte: number, from: number, end: number): number {
  for (let i = from; i < end; i++) if (b[i] === byte) return i;
  return -1;
}

/**
 * A line at bytes [start, end), whose strings come from scanned(). `gs` is
 * where its first 0x1D is (end if none); `keep` is a buffer the reader owns
 * that the record keeps as its bytes, or undefined for parseLogLine's buffer.
 */
function parseLineAt(b: Uint8Array, start: number, end: number, gs: number, keep: Buffer | undefined): AuditRecord | undefined {
  while (end > start && (b[end - 1] === 10 || b[end - 1] === 13)) end--;
  if (end === start) return undefined;
  let i = start;
  let node: string | undefined;
  if (startsAt(b, i, end, NODE_PREFIX)) {
    let sp = i + 5;
    while (sp < end && b[sp] !== 32) sp++;
    if (sp === end) return malformedLine(0, start, i, end, end, undefined, 'node= without a record after it');
    node = scanned(i + 5, sp);
    i = sp + 1;
  }
  if (!startsAt(b, i, end, TYPE_PREFIX)) return malformedLine(0, start, i, end, end, node, 'no type= at the start of the line');
  let sp = i + 5;
  while (sp < end && b[sp] !== 32) sp++;
  if (sp === end) return malformedLine(0, start, i, end, end, node, 'no msg= after type=');
  const type = typeAt(b, i + 5, sp);
  if (!startsAt(b, sp + 1, end, MSG_PREFIX)) return malformedLine(Math.max(type, 0), start, sp + 1, end, end, node, 'no msg= after type=');
  const from = sp + 5;
  if (gs > end) gs = end;
  // Only a separator after msg= ends the record's text (one before is the node name's).
  if (gs < from) {
    gs = byteAt(b, GROUP_SEPARATOR, from, end);
    if (gs < 0) gs = end;
  }
  if (type < 0) return malformedLine(0, start, from, gs, end, node, `unknown record type ${scanned(i + 5, sp)}`);
  const text = scanned(from, gs);
  const enriched = gs < end ? scanned(gs + 1, end) : undefined;
  const body = parseHeaderBytes(b, from, gs);
  let record: AuditRecord;
  if (body < 0) {
    const line = scanned(start, end);
    // fromText reads the header again from its own bytes (b may be those).
    record = AuditRecord.fromText(type, text, node).keepLine(line);
  } else {
    record = new AuditRecord(type, text, headerTime, headerSerial, body - from, node, undefined, keep, from, gs);
    if (keep === undefined) record.inScratch();
  }
  if (enriched !== undefined) record.setEnrichedText(enriched);
  return record;
}

/** A line that is not a record as auditd writes one: its text [from, textEnd), and the line [start, end) kept. */
function malformedLine(type: number, start: number, from: number, textEnd: number, end: number, node: string | undefined, why: string): AuditRecord {
  const line = scanned(start, end);
  return AuditRecord.fromText(type, scanned(from, textEnd), node, why).keepLine(line);
}
