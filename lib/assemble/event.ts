// An audit event: the records that share one serial.
import { EXECVE, SYSCALL, recordTypeName } from '../constants/index.js';
import type { EventBatch } from './batch.js';
import type { AuditRecord, RawField } from '../decode/record.js';
import { isEncodedHex } from '../decode/fields.js';
import { commandLineOf } from './argv.js';
import type { ContainerInfo, ContainerResolver } from '../enrich/container.js';
import type { ProcessInfo, ProcessTable } from '../enrich/process.js';
import { eventToJSON, pathsOf, processOf, socketsOf, usersOf, type AuditEventJSON, type IdJSON, type JsonRecords, type PathJSON, type ProcessJSON } from '../shape/json.js';
import { summarize, type Summary } from '../shape/summary.js';
import { eventToECS } from '../shape/ecs.js';
import type { SocketAddress } from '../interpret/index.js';

/** What a live event may look up about its process. */
export interface Enrichment {
  containers: ContainerResolver;
  processes: ProcessTable;
  /** Parents to list in `ancestry`. */
  ancestryDepth: number;
}

export class AuditEvent {
  readonly serial: number;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly node: string | undefined;
  /**
   * True when the event was handed out because a bound (age, count, close) was
   * hit before its end-of-event record arrived: records may be missing.
   */
  incomplete: boolean;

  // A live event is a view of its batch (the entry at `at`) until its records
  // are read; an event from a log holds its records from the start.
  private recs: AuditRecord[] | undefined;
  private readonly batch: EventBatch | undefined;
  private readonly at: number;
  /**
   * The batch's index names this event's key, pid and ppid, as decoding its
   * records would (a property test holds them equal): read there even once
   * the records are decoded, until they are replaced.
   */
  private indexed: boolean;
  private keyList: string[] | undefined;
  private enrichment: Enrichment | undefined;
  private parents: ProcessInfo[] | undefined;
  private containerInfo: ContainerInfo | null | undefined;
  private containerLooked = false;
  private cmdline: { argv: string[]; incomplete: boolean } | null | undefined;

  /** Events come from readAuditLog(), an Assembler or a subscription; this takes their parts. */
  constructor(first: AuditRecord | undefined, batch?: EventBatch, at = 0, serial = 0, time = 0, incomplete = false) {
    if (first !== undefined) {
      this.serial = first.serial;
      this.time = first.time;
      this.node = first.node;
      this.recs = [first];
    } else {
      this.serial = serial;
      this.time = time;
      this.node = undefined;
      this.recs = undefined;
    }
    this.incomplete = incomplete;
    this.batch = batch;
    this.at = at;
    this.indexed = batch !== undefined;
    this.keyList = undefined;
    this.enrichment = undefined;
  }

  /** The records, in the order they arrived. */
  get records(): AuditRecord[] {
    return (this.recs ??= this.batch!.recordsAt(this.at));
  }

  /** The record types' names, in order (`['SYSCALL', 'PATH', 'PROCTITLE']`), without reading the records. */
  get types(): string[] {
    if (this.recs === undefined) return this.batch!.typesAt(this.at).map(recordTypeName);
    return this.recs.map((r) => r.typeName);
  }

  /** The first record of a type, by number or name. */
  record(type: number | string): AuditRecord | undefined {
    for (const r of this.records) if (typeof type === 'number' ? r.type === type : r.typeName === type) return r;
    return undefined;
  }

  /** @internal Live events can name their container and parents: the subscription hands them its lookups. */
  enrichWith(enrichment: Enrichment): void {
    this.enrichment = enrichment;
  }

  /** The process id the event is about (the SYSCALL record's, or a user record's pid field). */
  get pid(): number | undefined {
    if (this.indexed) return this.batch!.numberAt(this.at, 8);
    for (const r of this.recs!) {
      const pid = processNumber(r.rawField('pid'));
      if (pid !== undefined) return pid;
    }
    return undefined;
  }

  /**
   * The container the process runs in (null: the host), from its cgroup as
   * the reader thread read it when the event completed. A process already
   * gone by then is placed by its parent only if the parent is in a
   * container. Undefined when that cannot be told (and counted in
   * stats().containerUnknown), and for log files.
   */
  get container(): ContainerInfo | null | undefined {
    if (!this.containerLooked && this.enrichment && this.batch) {
      this.containerLooked = true;
      const { text, source } = this.batch.cgroupAt(this.at);
      this.containerInfo = this.enrichment.containers.resolve(text, source, this.pid, this.time);
    }
    return this.containerInfo;
  }

  /** The parent process id, from the SYSCALL record. */
  get ppid(): number | undefined {
    if (this.indexed) return this.batch!.numberAt(this.at, 9);
    for (const r of this.recs!) {
      const ppid = r.rawField('ppid');
      if (ppid !== undefined && ppid.value !== '') return processNumber(ppid);
    }
    return undefined;
  }

  /**
   * The parents of the event's process, nearest first (pid, ppid, exe, comm,
   * argv of each), from the processes the stream has shown and /proc. Only
   * for live events; empty when unknown. Looked up on first use.
   */
  get ancestry(): ProcessInfo[] {
    if (this.parents === undefined) {
      const pid = this.pid;
      const e = this.enrichment;
      if (!e || pid === undefined) return (this.parents = []);
      const ppid = this.ppid;
      // The event's own record knows the parent even when the table does not.
      const first = ppid !== undefined ? e.processes.get(ppid) : undefined;
      this.parents = first ? [first, ...e.processes.ancestry(first.pid, e.ancestryDepth - 1)] : e.processes.ancestry(pid, e.ancestryDepth);
    }
    return this.parents;
  }

  /** The SYSCALL record's fields, when this is a syscall event. */
  get syscall(): Record<string, string> | undefined {
    return this.record(SYSCALL)?.fields;
  }

  /** The rule keys that matched (`-k`), several keys split; empty when none. */
  get keys(): string[] {
    if (this.keyList !== undefined) return this.keyList;
    if (this.indexed) return (this.keyList = this.batch!.keysAt(this.at));
    for (const r of this.recs!) {
      const key = r.rawField('key');
      if (key === undefined || (!key.quoted && key.value === '(null)')) continue;
      const text = !key.quoted && isEncodedHex(key.value, 0, key.value.length) ? Buffer.from(key.value, 'hex').toString('utf8') : key.value;
      return (this.keyList = text.split('\x01'));
    }
    return (this.keyList = []);
  }

  /**
   * The command line of an execve, from its EXECVE records: arguments split by
   * the kernel into `aN_len`, `aN[0]`, `aN[1]`… (possibly over several records)
   * are joined back, hex chunks joined as bytes before decoding. Built only
   * from the arguments present, in index order: `argc` is a claim the record
   * makes, and a claim the fields do not bear out sets `argvIncomplete`.
   */
  get argv(): string[] | undefined {
    return this.commandLine()?.argv;
  }

  /**
   * True when the EXECVE records do not hold the whole command line they
   * claim: fewer arguments than `argc`, an index or chunk missing (records
   * lost, an event cut at its bound, or a forged record), or the agent's argv
   * cap cut them (the EXECVE record's `cutBytes` says how much).
   */
  get argvIncomplete(): boolean {
    return this.commandLine()?.incomplete ?? false;
  }

  private commandLine(): { argv: string[]; incomplete: boolean } | undefined {
    if (this.cmdline !== undefined) return this.cmdline ?? undefined;
    const execves = this.records.filter((r) => r.type === EXECVE);
    if (execves.length === 0) {
      this.cmdline = null;
      return undefined;
    }
    const { args, incomplete } = commandLineOf(execves);
    this.cmdline = { argv: args.map((a) => a.toString('utf8')), incomplete };
    return this.cmdline;
  }

  /**
   * @internal The agent's record drops and argv cap replace records; what was
   * read from the old ones is forgotten.
   */
  replaceRecords(records: AuditRecord[]): void {
    this.recs = records;
    this.indexed = false;
    this.cmdline = undefined;
  }

  /** The first rule key, or undefined. */
  get key(): string | undefined {
    return this.keys[0];
  }

  /** Who did what to what, how, with what result (go-libaudit's words). */
  get summary(): Summary | undefined {
    return summarize(this);
  }

  /** pid, ppid, exe, comm, cwd, title, argv, tty, session. */
  get process(): ProcessJSON | undefined {
    return processOf(this);
  }

  /** auid, uid, euid, … with their names. */
  get user(): Record<string, IdJSON> | undefined {
    return usersOf(this);
  }

  /** The PATH records: name, nametype, inode, mode, owner. */
  get paths(): PathJSON[] {
    return pathsOf(this);
  }

  /** Socket addresses of SOCKADDR records. */
  get sockets(): SocketAddress[] {
    return socketsOf(this);
  }

  /** The documented event object (docs/event-schema.md). */
  toJSON(): AuditEventJSON {
    return eventToJSON(this, this.enrichment !== undefined);
  }

  /** The event in the Elastic Common Schema (docs/event-schema.md, "ECS"). */
  toECS(): Record<string, unknown> {
    return eventToECS(this, this.enrichment !== undefined);
  }

  /** The event object with less of each record: `fields` (no payload text) or `none` (summaries only). */
  toJSONWith(records: JsonRecords): AuditEventJSON {
    return eventToJSON(this, this.enrichment !== undefined, records);
  }
}

/**
 * pid and ppid as the reader thread reads them (native/record.h
 * ParseDecimal): unquoted decimal below 2^32 - 1 (the batch index's none;
 * no pid is that large); otherwise none.
 */
function processNumber(field: RawField | undefined): number | undefined {
  if (field === undefined || field.quoted || !/^\d{1,10}$/.test(field.value)) return undefined;
  const n = Number(field.value);
  return n < 0xffffffff ? n : undefined;
}
