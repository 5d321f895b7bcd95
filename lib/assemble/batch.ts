// A batch of complete events as the native reader hands it over: their
// records' text end to end in one Buffer, and an index (native/assembler.h):
//   [eventCount, recordCount, events (EVENT_WORDS each), records (RECORD_WORDS each)]
//   event:  firstRecord, recordCount, serial, seconds, millis, flags, keyOffset, keyLength, pid, ppid,
//           cgroupOffset, cgroupLength, cgroupSource
//   record: offset, length, type | flags << 16, bodyStart
// Events are views of it: nothing is decoded and no string made until a
// property is read. Hot path: plain integer reads, one object per event.
import { AuditRecord } from '../decode/record.js';
import { AuditEvent, type Enrichment } from './event.js';

export const EVENT_WORDS = 13;
export const RECORD_WORDS = 4;
const NONE = 0xffffffff;

// The last plain key keysAt made, and its bytes (up to 64).
const lastKeyBytes = new Uint8Array(64);
let lastKeyLength = -1;
let lastKey = '';

/** Event flags (native/assembler.h). */
export const EVENT_INCOMPLETE = 1;
export const EVENT_CUT = 2;
/** One ASCII key: no UTF-8 decoding, no split. */
const EVENT_KEY_PLAIN = 4;

/** Record flags (the type word's high half). */
const RECORD_TRUNCATED = 1;
const RECORD_NOT_UTF8 = 2;
const RECORD_NO_HEADER = 4;
const RECORD_SHORT = 8;

/** Buffer's own decoders, without toString()'s argument handling. */
type FastBuffer = Buffer & { utf8Slice(start: number, end: number): string; latin1Slice(start: number, end: number): string };

function malformedReason(flags: number, length: number): string | undefined {
  if (flags === 0) return undefined;
  if (flags & RECORD_SHORT) return `datagram of ${length} bytes is shorter than a netlink header`;
  if (flags & RECORD_TRUNCATED) return 'record longer than the 16 KiB receive slot; truncated';
  if (flags & RECORD_NOT_UTF8) return 'invalid UTF-8';
  if (flags & RECORD_NO_HEADER) return 'no audit(SECONDS.MILLIS:SERIAL) header';
  return undefined;
}

export class EventBatch implements Iterable<AuditEvent> {
  /** How many events. */
  readonly length: number;
  /** @internal */
  readonly data: Buffer;
  /** @internal */
  readonly index: Uint32Array;
  private readonly recordBase: number;
  private readonly enrichment: Enrichment | undefined;
  // The reader writes a cgroup text once for a run of events that share it
  // (the same offset): one string for all of them, whose hash the container
  // lookup then computes once.
  private cgroupOffset = -1;
  private cgroupText = '';

  /** @internal Batches come from a subscription (`sub.batches()`). */
  constructor(data: Buffer, index: Uint32Array, enrichment?: Enrichment) {
    this.data = data;
    this.index = index;
    this.length = index[0];
    this.recordBase = 2 + index[0] * EVENT_WORDS;
    this.enrichment = enrichment;
  }

  /** The i-th event (0 ≤ i < length), a view of this batch. */
  event(i: number): AuditEvent {
    const at = 2 + i * EVENT_WORDS;
    const x = this.index;
    const ev = new AuditEvent(undefined, this, at, x[at + 2], x[at + 3] * 1000 + x[at + 4], (x[at + 5] & (EVENT_INCOMPLETE | EVENT_CUT)) !== 0);
    if (this.enrichment !== undefined) ev.enrichWith(this.enrichment);
    return ev;
  }

  [Symbol.iterator](): IterableIterator<AuditEvent> {
    return new BatchEvents(this);
  }

  /** @internal The records of the event whose entry starts at `at`. */
  recordsAt(at: number): AuditRecord[] {
    const x = this.index;
    const first = x[at];
    const n = x[at + 1];
    const serial = x[at + 2];
    const time = x[at + 3] * 1000 + x[at + 4];
    const out: AuditRecord[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const r = this.recordBase + (first + k) * RECORD_WORDS;
      const offset = x[r];
      const length = x[r + 1];
      const typeAndFlags = x[r + 2];
      const flags = typeAndFlags >>> 16;
      const malformed = flags === 0 ? undefined : malformedReason(flags, length);
      // A record with no header has no serial or time of its own.
      const headed = (flags & (RECORD_NO_HEADER | RECORD_SHORT)) === 0;
      out[k] = new AuditRecord(typeAndFlags & 0xffff, undefined, headed ? time : 0, headed ? serial : 0, x[r + 3], undefined, malformed, this.data, offset, offset + length);
    }
    return out;
  }

  /** @internal The record types of the event at `at`, in order. */
  typesAt(at: number): number[] {
    const x = this.index;
    const first = x[at];
    const n = x[at + 1];
    const out: number[] = new Array(n);
    for (let k = 0; k < n; k++) out[k] = x[this.recordBase + (first + k) * RECORD_WORDS + 2] & 0xffff;
    return out;
  }

  /** @internal The rule keys of the event at `at` (several keys are joined with 0x01). */
  keysAt(at: number): string[] {
    const x = this.index;
    const offset = x[at + 6];
    if (offset === NONE) return [];
    const length = x[at + 7];
    const end = offset + length;
    if ((x[at + 5] & EVENT_KEY_PLAIN) === 0) return (this.data as FastBuffer).utf8Slice(offset, end).split('\x01');
    // Events mostly carry the key of the event before them (the same rule's):
    // its bytes compared with that one's cost less than making its string
    // again (a call into Buffer's binding per event).
    const b = this.data;
    if (length === lastKeyLength) {
      let j = 0;
      while (j < length && b[offset + j] === lastKeyBytes[j]) j++;
      if (j === length) return [lastKey];
    }
    const key = (b as FastBuffer).latin1Slice(offset, end);
    if (length <= lastKeyBytes.length) {
      lastKeyBytes.set(b.subarray(offset, end));
      lastKeyLength = length;
      lastKey = key;
    }
    return [key];
  }

  /** @internal The cgroup paths the reader read for the event at `at`, and how it came by them (CGROUP_* in lib/enrich/container). */
  cgroupAt(at: number): { text: string | undefined; source: number } {
    const x = this.index;
    const offset = x[at + 10];
    if (offset === NONE) return { text: undefined, source: x[at + 12] };
    if (offset !== this.cgroupOffset) {
      this.cgroupOffset = offset;
      this.cgroupText = (this.data as FastBuffer).latin1Slice(offset, offset + x[at + 11]);
    }
    return { text: this.cgroupText, source: x[at + 12] };
  }

  /** @internal The event's pid or ppid (word 8 or 9), when a record had one. */
  numberAt(at: number, word: number): number | undefined {
    const n = this.index[at + word];
    return n === NONE ? undefined : n;
  }
}

/**
 * A batch's events in order. A class, not a generator: a generator's step
 * cost about 25 ns more per event (a probe, 40-45 against 16-27 ns), which
 * the batch API's consumers pay on every event.
 */
class BatchEvents implements IterableIterator<AuditEvent> {
  private i = 0;

  constructor(private readonly batch: EventBatch) {}

  next(): IteratorResult<AuditEvent, undefined> {
    return this.i < this.batch.length ? { value: this.batch.event(this.i++), done: false } : { value: undefined, done: true };
  }

  [Symbol.iterator](): this {
    return this;
  }
}
