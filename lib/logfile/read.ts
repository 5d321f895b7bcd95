// auditd's log files through the same decoder and assembler as the live stream.
import { isAscii, isUtf8 } from 'node:buffer';
import { AuditRecord, parseLogBytes, parseLogLine } from '../decode/record.js';
import { Assembler, type AssemblerOptions, type AssemblerStats } from '../assemble/assembler.js';
import type { AuditEvent } from '../assemble/event.js';

export interface ReadAuditLogOptions extends Pick<AssemblerOptions, 'maxInFlight' | 'timeoutMs' | 'maxRecordsPerEvent' | 'maxEventBytes'> {
  /** Whether the log has EOE records (laurel and raw captures do; auditd's audit.log does not). Default false. */
  expectEndOfEvent?: boolean;
  /**
   * The longest line read whole, in bytes (characters when the source gives
   * text). A longer line is cut there: its record is marked malformed, the
   * rest of the line skipped, and both counted. Default 256 KiB: auditd's
   * longest record is under 9 KiB (MAX_AUDIT_MESSAGE_LENGTH), ENRICHED
   * lines about twice that.
   */
  maxLineBytes?: number;
}

export interface ReadAuditLogStats extends AssemblerStats {
  /** Lines read (blank ones included). */
  lines: number;
  /** Records marked malformed: not a record, a bad header, cut, or bytes that are not UTF-8. */
  malformed: number;
  /** Lines longer than maxLineBytes, cut. */
  linesCut: number;
  /** What was skipped of those lines past the bound (bytes, or characters for text). */
  bytesSkipped: number;
  /** Lines holding bytes that are not UTF-8 (their records keep the bytes: `record.lineBytes`). */
  notUtf8: number;
}

/** The events of a log, with what reading them counted (final once the loop ends). */
export interface AuditLogEvents extends AsyncGenerator<AuditEvent, void, undefined> {
  readonly stats: ReadAuditLogStats;
}

const NEWLINE = 10;
/** The most of a chunk read before its events are handed out (whole lines; a longer line is read whole). */
const PIECE_BYTES = 64 * 1024;
/** maxLineBytes when not given. */
export const DEFAULT_MAX_LINE_BYTES = 256 * 1024;

/**
 * Events from auditd log lines (`audit.log`, raw or ENRICHED, with or without
 * `node=`), given as a stream or any async iterable of text or bytes. An event
 * waits for its records by record time, not wall time, so a file reads the
 * same however fast it is read. Lines that are not records come out as
 * one-record events marked malformed. Memory is bounded whatever the input:
 * by maxLineBytes per line, and by the assembler's bounds per event.
 */
export function readAuditLog(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  options: ReadAuditLogOptions = {},
): AuditLogEvents {
  const stats: ReadAuditLogStats = {
    events: 0,
    incomplete: 0,
    strayEndOfEvent: 0,
    serialGaps: 0,
    recordsCut: 0,
    lines: 0,
    malformed: 0,
    linesCut: 0,
    bytesSkipped: 0,
    notUtf8: 0,
  };
  return new LogEvents(read(source, options, stats), stats);
}

/**
 * read()'s events one at a time, from the arrays it yields per piece of the
 * log. An async generator yielding each event took 250-500 ns per event on
 * the test VM, this 100-160 (a probe over 60,000 events in arrays of 500):
 * a for-await over one waits on one resolved promise per event here, where
 * the generator's yield awaits its value and queues the request as well.
 * Calls of next() made before the last one settled are served in order.
 */
class LogEvents implements AuditLogEvents {
  private events: AuditEvent[] = [];
  private at = 0;
  /** The wait for read()'s next array, while there is one. */
  private filling: Promise<IteratorResult<AuditEvent, void>> | undefined;

  constructor(
    private readonly pieces: AsyncGenerator<AuditEvent[], void, undefined>,
    readonly stats: ReadAuditLogStats,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<AuditEvent, void>> {
    // After a failure the generator is done, and so is a call made meanwhile.
    if (this.filling !== undefined) return this.filling.then(() => this.next(), () => this.next());
    if (this.at < this.events.length) {
      const event = this.events[this.at];
      // Not kept once handed out: the consumer decides how long an event lives.
      this.events[this.at++] = undefined as unknown as AuditEvent;
      return Promise.resolve({ value: event, done: false });
    }
    return (this.filling = this.fill());
  }

  private async fill(): Promise<IteratorResult<AuditEvent, void>> {
    try {
      for (;;) {
        const piece = await this.pieces.next();
        if (piece.done === true) return piece;
        if (piece.value.length === 0) continue;
        this.events = piece.value;
        this.at = 1;
        return { value: piece.value[0], done: false };
      }
    } finally {
      this.filling = undefined;
    }
  }

  /** Ends reading (the source's own return() runs): events not yet handed out are dropped. */
  async return(): Promise<IteratorResult<AuditEvent, void>> {
    try {
      await this.pieces.return();
    } finally {
      this.dropRest();
    }
    return { value: undefined, done: true };
  }

  /** Ends reading with `e` (read() does not catch it: the source is closed, and `e` rejects). */
  async throw(e: unknown): Promise<IteratorResult<AuditEvent, void>> {
    try {
      await this.pieces.throw(e);
    } finally {
      this.dropRest();
    }
    return { value: undefined, done: true };
  }

  // Only once the generator has ended: a next() that was waiting for a piece has had it by then.
  private dropRest(): void {
    this.events = [];
    this.at = 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

async function* read(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  options: ReadAuditLogOptions,
  stats: ReadAuditLogStats,
): AsyncGenerator<AuditEvent[], void, undefined> {
  const maxLine = Math.max(64, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  const ready: AuditEvent[] = [];
  const assembler = new Assembler((ev) => ready.push(ev), {
    maxInFlight: options.maxInFlight,
    timeoutMs: options.timeoutMs,
    maxRecordsPerEvent: options.maxRecordsPerEvent,
    maxEventBytes: options.maxEventBytes,
    expectEndOfEvent: options.expectEndOfEvent ?? false,
  });
  const push = (record: AuditRecord): void => {
    if (record.malformed !== undefined) stats.malformed++;
    assembler.push(record, record.time);
    if (record.time !== 0) assembler.expire(record.time);
  };
  const take = (line: string, problem?: string, bytes?: Buffer): void => {
    stats.lines++;
    const record = parseLogLine(line);
    if (!record) return;
    if (problem !== undefined) record.markMalformed(problem, bytes);
    push(record);
  };
  const cut = (line: string, bytes?: Buffer): void => {
    stats.linesCut++;
    take(line, `line longer than ${maxLine} bytes: cut there`, bytes);
  };
  // A line with bytes that are not UTF-8: read from its lossy text, marked,
  // its bytes kept for output that must not change them.
  const takeBytes = (bytes: Buffer, cutLine: boolean): void => {
    if (isUtf8(bytes)) {
      if (cutLine) cut(bytes.toString('utf8'));
      else take(bytes.toString('utf8'));
      return;
    }
    stats.notUtf8++;
    const copy = Buffer.from(bytes);
    if (cutLine) cut(copy.toString('utf8'), copy);
    else take(copy.toString('utf8'), 'bytes that are not UTF-8 (kept in lineBytes)', copy);
  };

  // The start of a line not yet ended, as bytes (or text), at most maxLine of
  // it; once past, the rest of the line is skipped up to its newline.
  let carry: Buffer[] = [];
  let carryLength = 0;
  let carryText = '';
  let skipping = false;

  const flushReady = (): AuditEvent[] => {
    Object.assign(stats, assembler.stats);
    return ready.splice(0);
  };
  for await (const chunk of source) {
    if (typeof chunk === 'string') {
      readText(chunk);
      if (ready.length > 0) yield flushReady();
      continue;
    }
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // A big chunk is read in pieces of whole lines, its events handed out
    // after each: records then die young, in the garbage collector's cheap
    // generation, and a piece's text is a young string, not a large object
    // kept until a full collection.
    let from = 0;
    while (from < buf.length) {
      let to = buf.length;
      if (to - from > PIECE_BYTES) {
        let nl = buf.lastIndexOf(NEWLINE, from + PIECE_BYTES - 1);
        // A line longer than a piece: read to its end.
        if (nl < from) nl = buf.indexOf(NEWLINE, from + PIECE_BYTES);
        if (nl >= 0) to = nl + 1;
      }
      readBytes(from === 0 && to === buf.length ? buf : buf.subarray(from, to));
      from = to;
      if (ready.length > 0) yield flushReady();
    }
  }
  if (!skipping) {
    if (carryLength > 0) takeBytes(Buffer.concat(carry, carryLength), false);
    if (carryText.length > 0) take(carryText);
  }
  assembler.flush();
  yield flushReady();

  function readText(text: string): void {
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      if (skipping) {
        stats.bytesSkipped += nl - start;
        skipping = false;
      } else if (carryText.length + nl - start > maxLine) {
        const whole = carryText + text.slice(start, start + maxLine - carryText.length);
        stats.bytesSkipped += carryText.length + nl - start - maxLine;
        cut(whole);
      } else {
        take(carryText.length > 0 ? carryText + text.slice(start, nl) : text.slice(start, nl));
      }
      carryText = '';
      start = nl + 1;
    }
    const rest = text.length - start;
    if (skipping) stats.bytesSkipped += rest;
    else if (carryText.length + rest > maxLine) {
      cut(carryText + text.slice(start, start + maxLine - carryText.length));
      stats.bytesSkipped += carryText.length + rest - maxLine;
      carryText = '';
      skipping = true;
    } else if (rest > 0) carryText += text.slice(start);
  }

  function readBytes(buf: Buffer): void {
    let start = 0;
    const last = buf.lastIndexOf(NEWLINE);
    if (last < 0) return keepPartial(buf, 0);
    // The line the previous chunk left open ends in this one.
    if (carryLength > 0 || skipping) {
      const nl = buf.indexOf(NEWLINE);
      endCarried(buf, nl);
      start = nl + 1;
    }
    // The common case, whole lines of ASCII (the kernel hex-encodes the
    // rest): read in place. Then valid UTF-8: one check, one decode and
    // string splitting. Otherwise line by line, as bytes.
    if (start <= last) {
      const body = buf.subarray(start, last);
      if (last - start > 64 * maxLine) readLinesAsBytes(buf, start, last);
      else if (isAscii(body)) readAsciiLines(body);
      else if (isUtf8(body)) readWholeLines(body.toString('utf8'));
      else readLinesAsBytes(buf, start, last);
    }
    keepPartial(buf, last + 1);
  }

  /** Text of whole lines, each ended by a newline but the last (whose newline was cut off). */
  function readWholeLines(text: string): void {
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      lineOf(text, start, nl);
      start = nl + 1;
    }
    lineOf(text, start, text.length);
  }

  /**
   * Whole lines of ASCII, the last without its newline. One copy and one
   * string for them all (latin1: ASCII's bytes are its characters), and no
   * string per line: each record is read from the bytes, which it keeps.
   */
  function readAsciiLines(body: Buffer): void {
    // Copied: the source may reuse its buffer, and the records keep these bytes.
    const bytes = Buffer.from(body);
    const text = (bytes as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(0, bytes.length);
    let start = 0;
    // The next 0x1D (ENRICHED lines), searched for again only once passed:
    // one search for a chunk of raw lines, not one to its end per line.
    let gs = bytes.indexOf(0x1d);
    while (start <= text.length) {
      let nl = text.indexOf('\n', start);
      if (nl < 0) nl = text.length;
      if (gs >= 0 && gs < start) gs = bytes.indexOf(0x1d, start);
      if (nl - start > maxLine) {
        stats.bytesSkipped += nl - start - maxLine;
        cut(text.slice(start, start + maxLine));
      } else {
        stats.lines++;
        const record = parseLogBytes(bytes, text, start, nl, gs >= 0 && gs < nl ? gs : nl);
        if (record) push(record);
      }
      start = nl + 1;
    }
  }

  function lineOf(text: string, start: number, end: number): void {
    // Characters bound the string, bytes the file: a line of multi-byte
    // characters is cut by characters here, still within the memory bound.
    if (end - start > maxLine) {
      stats.bytesSkipped += end - start - maxLine;
      cut(text.slice(start, start + maxLine));
    } else take(text.slice(start, end));
  }

  function readLinesAsBytes(buf: Buffer, start: number, last: number): void {
    while (start <= last) {
      const nl = buf.indexOf(NEWLINE, start);
      if (nl - start > maxLine) {
        stats.bytesSkipped += nl - start - maxLine;
        takeBytes(buf.subarray(start, start + maxLine), true);
      } else takeBytes(buf.subarray(start, nl), false);
      start = nl + 1;
    }
  }

  function endCarried(buf: Buffer, nl: number): void {
    if (skipping) {
      stats.bytesSkipped += nl;
      skipping = false;
      return;
    }
    if (carryLength + nl > maxLine) {
      stats.bytesSkipped += carryLength + nl - maxLine;
      carry.push(buf.subarray(0, maxLine - carryLength));
      takeBytes(Buffer.concat(carry), true);
    } else {
      carry.push(buf.subarray(0, nl));
      takeBytes(Buffer.concat(carry, carryLength + nl), false);
    }
    carry = [];
    carryLength = 0;
  }

  function keepPartial(buf: Buffer, from: number): void {
    const rest = buf.length - from;
    if (rest === 0) return;
    if (skipping) {
      stats.bytesSkipped += rest;
      return;
    }
    if (carryLength + rest > maxLine) {
      stats.bytesSkipped += carryLength + rest - maxLine;
      carry.push(buf.subarray(from, from + maxLine - carryLength));
      takeBytes(Buffer.concat(carry), true);
      carry = [];
      carryLength = 0;
      skipping = true;
      return;
    }
    // Copied: the source may reuse its buffer for the next chunk.
    carry.push(Buffer.from(buf.subarray(from)));
    carryLength += rest;
  }
}
