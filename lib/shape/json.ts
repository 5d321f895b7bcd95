// The documented JSON form of an event (docs/event-schema.md,
// docs/event.schema.json): the parts people and pipelines want first —
// summary, process, users, syscall, paths, sockets, container — and every
// record with its raw and interpreted values side by side.
import { isUtf8 } from 'node:buffer';
import os from 'node:os';
import { EXECVE, PROCTITLE, SYSCALL } from '../constants/index.js';
import type { AuditEvent } from '../assemble/event.js';
import type { AuditRecord } from '../decode/record.js';
import { HEX_ENCODED_FIELDS, hexBytes, isEncodedHex } from '../decode/fields.js';
import { parseSockaddr, type SocketAddress } from '../interpret/index.js';
import type { ContainerInfo } from '../enrich/container.js';
import type { ProcessInfo } from '../enrich/process.js';
import { summarize, type Summary } from './summary.js';

export interface IdJSON {
  id: number;
  name: string;
}

export interface RecordJSON {
  type: number;
  typeName: string;
  /** The payload exactly as received (absent in the `fields` form). */
  text?: string;
  /** Raw values: quotes removed, hex-encoded text decoded (invalid UTF-8 as U+FFFD; see `hex`). */
  fields: Record<string, string>;
  /** Meanings of the fields whose meaning differs from the raw value (syscall name, user name, …). */
  interpreted?: Record<string, string>;
  /** For hex-encoded values whose bytes are not valid UTF-8: the hex as logged, so no byte is lost. */
  hex?: Record<string, string>;
  /** The whole log line's bytes as hex, when they are not valid UTF-8 (text and fields hold U+FFFD in their place). */
  lineHex?: string;
  malformed?: string;
  /** Bytes of argument or title the agent's argv cap left out of this record (`forward --max-argv-bytes`). */
  cutBytes?: number;
}

export interface AuditEventJSON {
  serial: number;
  /** ISO 8601, UTC, millisecond precision. */
  time: string;
  node?: string;
  /** The host a live event happened on (this host's name). */
  host?: string;
  incomplete?: true;
  /** Record type names, in order. */
  types: string[];
  /** Rule keys that matched. */
  keys: string[];
  summary?: Summary;
  process?: { pid?: number; ppid?: number; exe?: string; comm?: string; cwd?: string; title?: string; titleCutBytes?: number; argv?: string[]; argvIncomplete?: true; argvCutBytes?: number; tty?: string; ses?: string };
  user?: Record<string, IdJSON>;
  syscall?: { name: string; arch: string; exit?: number; result: string; args: string[] };
  paths?: Array<{ item?: number; name?: string; nametype?: string; inode?: number; mode?: string; owner?: IdJSON; group?: IdJSON }>;
  sockets?: SocketAddress[];
  /** Live events only: the container (null: the host). */
  container?: ContainerInfo | null;
  /** Live events only: the parent processes, nearest first. */
  ancestry?: ProcessInfo[];
  /** Every record (absent in the `none` form). */
  records?: RecordJSON[];
}

const USER_FIELDS = ['auid', 'uid', 'euid', 'suid', 'fsuid', 'gid', 'egid', 'sgid', 'fsgid'];

function idJSON(r: AuditRecord, name: string): IdJSON | undefined {
  const raw = r.fields[name];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return { id: Number(raw), name: r.interpreted[name] };
}

function recordJSON(r: AuditRecord, withText: boolean): RecordJSON {
  const out: RecordJSON = withText ? { type: r.type, typeName: r.typeName, text: r.text, fields: r.fields } : { type: r.type, typeName: r.typeName, fields: r.fields };
  const interpreted: Record<string, string> = Object.create(null) as Record<string, string>;
  let any = false;
  const meanings = r.interpreted;
  for (const k in meanings) {
    if (meanings[k] !== r.fields[k]) {
      interpreted[k] = meanings[k];
      any = true;
    }
  }
  if (any) out.interpreted = interpreted;
  const hex = lossyHexFields(r);
  if (hex !== undefined) out.hex = hex;
  const bytes = r.lineBytes;
  if (bytes !== undefined) out.lineHex = bytes.toString('hex');
  if (r.malformed !== undefined) out.malformed = r.malformed;
  if (r.cutBytes !== undefined) out.cutBytes = r.cutBytes;
  return out;
}

/**
 * The hex-encoded fields whose bytes are not valid UTF-8 (their decoded text
 * has U+FFFD in place of the bad bytes), as logged; undefined when none.
 */
export function lossyHexFields(r: AuditRecord): Record<string, string> | undefined {
  // Bytes that are not UTF-8 decode to U+FFFD: without one, nothing was lost,
  // and the raw fields (an object per field) need not be built. Every event
  // written out passes here.
  const fields = r.fields;
  let suspect = false;
  for (const k in fields) {
    if (fields[k].indexOf('\ufffd') >= 0) {
      suspect = true;
      break;
    }
  }
  if (!suspect) return undefined;
  let hex: Record<string, string> | undefined;
  for (const f of r.rawFields()) {
    const encoded = r.type === EXECVE ? /^a\d+(\[\d+\])?$/.test(f.key) : HEX_ENCODED_FIELDS.has(f.key);
    if (!encoded || f.quoted || !isEncodedHex(f.value, 0, f.value.length)) continue;
    if (!isUtf8(hexBytes(f.value, 0, f.value.length))) (hex ??= Object.create(null) as Record<string, string>)[f.key] = f.value;
  }
  return hex;
}

export type ProcessJSON = NonNullable<AuditEventJSON['process']>;
export type SyscallJSON = NonNullable<AuditEventJSON['syscall']>;
export type PathJSON = NonNullable<AuditEventJSON['paths']>[number];

/** The record that speaks for the process: the SYSCALL record, else the first with a pid. */
function processRecord(ev: AuditEvent): AuditRecord | undefined {
  return ev.record(SYSCALL) ?? ev.records.find((r) => r.fields.pid !== undefined);
}

export function processOf(ev: AuditEvent): ProcessJSON | undefined {
  const r = processRecord(ev);
  if (!r) return undefined;
  const f = r.fields;
  const process: ProcessJSON = {};
  if (f.pid !== undefined && /^\d+$/.test(f.pid)) process.pid = Number(f.pid);
  if (f.ppid !== undefined && /^\d+$/.test(f.ppid)) process.ppid = Number(f.ppid);
  if (f.exe !== undefined) process.exe = f.exe;
  if (f.comm !== undefined) process.comm = f.comm;
  const cwd = ev.record('CWD')?.fields.cwd;
  if (cwd !== undefined) process.cwd = cwd;
  const titleRecord = ev.record(PROCTITLE);
  const title = titleRecord?.interpreted.proctitle;
  if (title !== undefined) process.title = title;
  if (titleRecord?.cutBytes !== undefined) process.titleCutBytes = titleRecord.cutBytes;
  const argv = ev.argv;
  if (argv) {
    process.argv = argv;
    if (ev.argvIncomplete) process.argvIncomplete = true;
    const cut = ev.record(EXECVE)?.cutBytes;
    if (cut !== undefined) process.argvCutBytes = cut;
  }
  if (f.tty !== undefined) process.tty = f.tty;
  if (f.ses !== undefined) process.ses = r.interpreted.ses;
  return process;
}

export function usersOf(ev: AuditEvent): Record<string, IdJSON> | undefined {
  const r = processRecord(ev);
  if (!r) return undefined;
  const user: Record<string, IdJSON> = {};
  for (const name of USER_FIELDS) {
    const id = idJSON(r, name);
    if (id) user[name] = id;
  }
  return Object.keys(user).length > 0 ? user : undefined;
}

export function syscallOf(ev: AuditEvent): SyscallJSON | undefined {
  const sc = ev.record(SYSCALL);
  if (!sc) return undefined;
  const f = sc.fields;
  const i = sc.interpreted;
  return {
    name: i.syscall,
    arch: i.arch,
    ...(f.exit !== undefined && /^-?\d+$/.test(f.exit) && { exit: Number(f.exit) }),
    result: f.success === 'yes' ? 'success' : f.success === 'no' ? 'fail' : 'unknown',
    args: ['a0', 'a1', 'a2', 'a3'].filter((a) => f[a] !== undefined).map((a) => i[a]),
  };
}

export function pathsOf(ev: AuditEvent): PathJSON[] {
  return ev.records
    .filter((r) => r.typeName === 'PATH')
    .map((r) => {
      const f = r.fields;
      const owner = idJSON(r, 'ouid');
      const group = idJSON(r, 'ogid');
      return {
        ...(f.item !== undefined && { item: Number(f.item) }),
        ...(f.name !== undefined && { name: f.name }),
        ...(f.nametype !== undefined && { nametype: f.nametype }),
        ...(f.inode !== undefined && /^\d+$/.test(f.inode) && { inode: Number(f.inode) }),
        ...(f.mode !== undefined && { mode: r.interpreted.mode }),
        ...(owner && { owner }),
        ...(group && { group }),
      };
    });
}

export function socketsOf(ev: AuditEvent): SocketAddress[] {
  return ev.records
    .filter((r) => r.fields.saddr !== undefined)
    .map((r) => parseSockaddr(r.fields.saddr))
    .filter((a): a is SocketAddress => a !== undefined);
}

/**
 * How much of each record an event's JSON carries. `full`: the payload text,
 * the fields and their meanings. `fields`: no text (the fields say it all;
 * about a quarter smaller). `none`: no records, only the summaries (process,
 * user, syscall, paths, sockets, container): the smallest, as laurel's size.
 */
export type JsonRecords = 'full' | 'fields' | 'none';
export const JSON_RECORDS: readonly JsonRecords[] = ['full', 'fields', 'none'];

let cachedHost: string | undefined;
let hostAt = 0;

/** This host's name, read again at most once a minute (a host may be renamed). */
export function hostName(): string {
  const now = Date.now();
  if (cachedHost === undefined || now - hostAt > 60_000) {
    cachedHost = os.hostname();
    hostAt = now;
  }
  return cachedHost;
}

/** The JSON object of an event; `JSON.stringify(event)` gives it. `live` adds host, container and ancestry. */
export function eventToJSON(ev: AuditEvent, live: boolean, records: JsonRecords = 'full'): AuditEventJSON {
  const out: AuditEventJSON = {
    serial: ev.serial,
    time: new Date(ev.time).toISOString(),
    ...(ev.node !== undefined && { node: ev.node }),
    // Where a live event happened, in every event (a receiver may not keep
    // the syslog header's host). A log's events say so only by node=.
    ...(live && { host: hostName() }),
    ...(ev.incomplete && { incomplete: true as const }),
    types: ev.records.map((r) => r.typeName),
    keys: ev.keys,
  };
  const summary = summarize(ev);
  if (summary) out.summary = summary;
  const process = processOf(ev);
  if (process) out.process = process;
  const user = usersOf(ev);
  if (user) out.user = user;
  const syscall = syscallOf(ev);
  if (syscall) out.syscall = syscall;
  const paths = pathsOf(ev);
  if (paths.length > 0) out.paths = paths;
  const sockets = socketsOf(ev);
  if (sockets.length > 0) out.sockets = sockets;
  if (live) {
    const container = ev.container;
    if (container !== undefined) out.container = container;
    out.ancestry = ev.ancestry;
  }
  if (records !== 'none') out.records = ev.records.map((r) => recordJSON(r, records === 'full'));
  return out;
}
