// Records → events, for log files and captures (the live stream is assembled
// on the native reader thread, native/assembler.cc, with the same type table:
// RECORD_TYPE_CLASS). Records of one event share a serial and may interleave
// with other events' records. A syscall event ends with EOE; user-space and
// daemon messages are events on their own; anything else waits, bounded by
// count and age, so a missing EOE never holds memory or an event forever.
import { PROCTITLE, RECORD_TYPE_CLASS, TYPE_END, TYPE_EXIT, TYPE_IGNORED, TYPE_SINGLE } from '../constants/index.js';
import type { AuditRecord } from '../decode/record.js';
import { AuditEvent } from './event.js';

export interface AssemblerOptions {
  /** Most events waiting for more records; the oldest is handed out incomplete beyond it. Default 1000. */
  maxInFlight?: number;
  /** An event waiting longer than this is handed out incomplete. Default 2000 ms, like the peers. */
  timeoutMs?: number;
  /**
   * Whether the stream carries EOE records (the kernel's live stream does;
   * auditd's log files do not). Without them PROCTITLE, always the last record
   * of a syscall event, ends the event, and events ended by a bound are not
   * marked incomplete. Default true.
   */
  expectEndOfEvent?: boolean;
  /** Most records one event holds; later ones are left out, counted (`recordsCut`) and the event marked incomplete. Default 8192, as live. */
  maxRecordsPerEvent?: number;
  /** Most text one event holds, in characters of its records' text; past it, as for maxRecordsPerEvent. Default 8 MiB, as live. */
  maxEventBytes?: number;
}

export interface AssemblerStats {
  events: number;
  /** Syscall events handed out before their EOE was seen: records may be missing. */
  incomplete: number;
  /** EOE records for events already handed out (they carry no data). */
  strayEndOfEvent: number;
  /**
   * Serials skipped between events, wrap-aware. Informative only: serials are
   * also used by records that never reach us (rate limits, filters, kmsg).
   */
  serialGaps: number;
  /** Records left out of events past maxRecordsPerEvent or maxEventBytes. */
  recordsCut: number;
}

/** Whether the kernel ends this event with EOE (it holds a record written at syscall exit). */
function endsWithEoe(event: AuditEvent): boolean {
  return event.records.some((r) => RECORD_TYPE_CLASS[r.type] === TYPE_EXIT);
}

/**
 * An event waiting for its records. Made with `new`, not an object literal:
 * V8 tracks where each literal's objects are made, and once most of them
 * outlive a young-generation collection (events of a log without PROCTITLE
 * wait up to timeoutMs of record time) it allocates the later ones of that
 * literal in the old generation. An event that ends three records later then
 * leaves its entry there, pointing at young objects, for full collections to
 * find. In probes of one process that had read the corpus mix that way,
 * `readAuditLog` then read a capture at 0.27-0.55× libauparse, against
 * 0.68-1.14× with this (bench/README.md).
 */
class InFlight {
  constructor(
    readonly event: AuditEvent,
    readonly since: number,
    public bytes: number,
  ) {}
}

export class Assembler {
  private readonly onEvent: (event: AuditEvent) => void;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly expectEoe: boolean;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly inFlight = new Map<number | string, InFlight>();
  private lastSerial = -1;
  readonly stats: AssemblerStats = { events: 0, incomplete: 0, strayEndOfEvent: 0, serialGaps: 0, recordsCut: 0 };

  constructor(onEvent: (event: AuditEvent) => void, options: AssemblerOptions = {}) {
    this.onEvent = onEvent;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 1000);
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.expectEoe = options.expectEndOfEvent ?? true;
    this.maxRecords = Math.max(1, options.maxRecordsPerEvent ?? 8192);
    this.maxBytes = Math.max(1, options.maxEventBytes ?? 8 << 20);
  }

  /** Events waiting for more records. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Add a record that arrived at `now` (any clock: wall time live, record time for files). */
  push(record: AuditRecord, now: number): void {
    if (record.malformed !== undefined && record.serial === 0 && record.time === 0) {
      this.emit(new AuditEvent(record), false);
      return;
    }
    const cls = RECORD_TYPE_CLASS[record.type];
    if (cls === TYPE_IGNORED) return;
    const key = record.node === undefined ? record.serial : `${record.node}:${record.serial}`;
    let waiting = this.inFlight.get(key);
    // An event is its serial *and* time, as ausearch keys them: the kernel
    // stamps every record of one event alike, so a record with the serial of
    // a waiting event but another time belongs to another event.
    if (waiting !== undefined && waiting.event.time !== record.time) {
      this.inFlight.delete(key);
      this.emit(waiting.event, this.expectEoe && endsWithEoe(waiting.event));
      waiting = undefined;
    }
    if (cls === TYPE_END) {
      if (waiting === undefined) this.stats.strayEndOfEvent++;
      else {
        this.inFlight.delete(key);
        this.emit(waiting.event, false);
      }
      return;
    }
    if (waiting) {
      const records = waiting.event.records;
      const size = record.text.length;
      if (records.length >= this.maxRecords || waiting.bytes + size > this.maxBytes) {
        this.stats.recordsCut++;
        if (!waiting.event.incomplete) {
          waiting.event.incomplete = true;
          this.stats.incomplete++;
        }
      } else {
        records.push(record);
        waiting.bytes += size;
      }
      if (!this.expectEoe && record.type === PROCTITLE) {
        this.inFlight.delete(key);
        this.emit(waiting.event, false);
      }
      return;
    }
    this.countGap(record.serial);
    const event = new AuditEvent(record);
    if (cls === TYPE_SINGLE || (!this.expectEoe && record.type === PROCTITLE)) {
      this.emit(event, false);
      return;
    }
    this.inFlight.set(key, new InFlight(event, now, record.text.length));
    if (this.inFlight.size > this.maxInFlight) this.evictOldest();
  }

  /** Hand out every event that has waited `timeoutMs` by `now`. */
  expire(now: number): void {
    for (const [key, f] of this.inFlight) {
      if (now - f.since < this.timeoutMs) break; // arrival order: the rest are younger
      this.inFlight.delete(key);
      this.emit(f.event, this.expectEoe && endsWithEoe(f.event));
    }
  }

  /** Hand out everything still waiting (end of stream). */
  flush(): void {
    for (const f of this.inFlight.values()) this.emit(f.event, this.expectEoe && endsWithEoe(f.event));
    this.inFlight.clear();
  }

  private evictOldest(): void {
    const first = this.inFlight.entries().next().value;
    if (!first) return;
    this.inFlight.delete(first[0]);
    this.emit(first[1].event, this.expectEoe && endsWithEoe(first[1].event));
  }

  private emit(event: AuditEvent, incomplete: boolean): void {
    if (incomplete && !event.incomplete) {
      event.incomplete = true;
      this.stats.incomplete++;
    }
    this.stats.events++;
    this.onEvent(event);
  }

  private countGap(serial: number): void {
    if (this.lastSerial >= 0) {
      const ahead = (serial - this.lastSerial) >>> 0;
      if (ahead === 0 || ahead >= 0x80000000) return; // same or older
      this.stats.serialGaps += ahead - 1;
    }
    this.lastSerial = serial;
  }
}
