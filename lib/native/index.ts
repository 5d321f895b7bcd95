// Loads the compiled addon (a prebuild from prebuilds/, or build/Release from
// node-gyp) and gives it types. Nothing outside lib/transport talks to it.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeAssembleOptions {
  maxInFlight?: number;
  timeoutMs?: number;
  maxRecordsPerEvent?: number;
  maxEventBytes?: number;
  /** What each record type means to assembly (lib/constants RECORD_TYPE_CLASS). */
  typeClass?: Uint8Array;
  /** Deliver only events with one of these keys. */
  keys?: string[];
  /** Deliver only events with a record of a type marked 1 in this table. */
  types?: Uint8Array;
  /** Read each event's cgroup as it completes, from procRoot (default /proc). */
  cgroups?: boolean;
  procRoot?: string;
  /** (AUDIT_ARCH, syscall number) pairs, flat, of the execs: their process is read afresh. */
  execSyscalls?: number[];
}

export interface NativeSocketOptions {
  /** Join AUDIT_NLGRP_READLOG (read-only multicast copy of every record). */
  multicast?: boolean;
  /** Bound on received bytes waiting for JS to take them. */
  bufferBytes?: number;
  /** At the bound, keep reading and discard (counted) instead of holding back. */
  dropOnOverflow?: boolean;
  /** Most time a complete event waits to be handed over with others. */
  latencyMs?: number;
  assemble?: NativeAssembleOptions;
}

export interface NativeSocketStats {
  datagrams: number;
  bytes: number;
  batches: number;
  overruns: number;
  dropped: number;
  droppedBytes: number;
  spoofed: number;
  truncated: number;
  pendingBytes: number;
  peakPendingBytes: number;
  blockedMs: number;
  bufferBytes: number;
  /** Event records received, EOE included. */
  records: number;
  /** Events handed over (after the filters). */
  events: number;
  /** Events the key and type filters left out. */
  filtered: number;
  incomplete: number;
  strayEndOfEvent: number;
  serialGaps: number;
  malformed: number;
  /** Records left out of events that reached the per-event bound. */
  recordsCut: number;
  /** Files read under /proc to place events (cgroup, and stat or comm when needed); events read through their parent; events neither could place. */
  cgroupReads: number;
  cgroupParent: number;
  cgroupGone: number;
  inFlight: number;
}

/** What take() returns: batches, and properties set only when there is something to say. */
export interface Taken extends Array<Buffer | Uint32Array> {
  /** The datagrams that answer requests. */
  control?: Buffer[];
  /** Posted messages that failed: [seq0, errno0, …]. */
  sendErrors?: number[];
  /** Batches were left waiting (past maxBytes): take again. */
  more?: true;
}

export interface NativeSocket {
  readonly portId: number;
  readonly closed: boolean;
  /** Send now, on this thread (the kernel handles the request inside sendto). */
  send(message: Uint8Array): number;
  /** Send on the sender thread, in order; a failure comes back in take().sendErrors. Needs start(). */
  post(message: Uint8Array): void;
  start(onReadable: () => void): void;
  /**
   * Waiting batches of complete events, at least one and about maxBytes:
   * [data0, index0, data1, index1, …] (lib/assemble/batch.ts reads them), with
   * what else there was as properties (see Taken).
   */
  take(maxBytes?: number): Taken;
  stats(): NativeSocketStats;
  setReceiveBuffer(bytes: number): number;
  /** Messages to send, and a file to unlink, if the environment is torn down (worker terminated, exit) with the socket open. close() forgets them. */
  setFarewell(messages: Uint8Array[], fileToRemove?: string): void;
  ref(): void;
  unref(): void;
  /** Stop the reader and hand out the events still waiting for records; take() then gets everything. */
  stop(): void;
  close(): void;
}

interface Addon {
  AuditSocket: new (options?: NativeSocketOptions) => NativeSocket;
  /** Receive slot size: longer datagrams arrive truncated and flagged. */
  SLOT_BYTES: number;
  /** A user's or group's name from the system (getpwuid_r/getgrgid_r, on a worker thread): null when there is none. */
  lookupIdentity(kind: 'passwd' | 'group', id: number, callback: (err: Error | null, name: string | null) => void): void;
}

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const load = require('node-gyp-build') as (dir: string) => unknown;

export const addon = load(root) as Addon;
