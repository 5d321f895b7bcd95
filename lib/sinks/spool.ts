// What a stream sink holds for its receiver: in memory (lost with the
// process), or on disk, where it outlives a restart or a crash of the agent.
//
// The disk spool is a write-ahead log of segment files, not a database: the
// sink needs append at the tail, read in order, and forget a confirmed prefix,
// nothing else. SQLite or LevelDB would bring a second native addon to build
// and ship for every platform, and their write path (a B-tree or an LSM
// compaction per message) does more than an append. See README "Disk spool".
//
// Layout of DIR: `NNNNNNNNNNNNNNNN.seg` files (16 hex digits, in order), each
// a run of records [u32 length][u32 crc32][length bytes of the message]
// (little-endian); `ack`, 16 bytes: the segment and offset of the first
// message not yet confirmed by the receiver; `owner`: the pid using it.
// Files are created 0600, the directory 0700.
//
// Durability: every message is written to its segment (one write per event)
// before the sink sends it, so a crash or SIGKILL of the agent loses nothing
// the sink accepted; segments are fsync'd once a second and at close, so a
// crash of the host may lose the last second. The ack file is rewritten
// (16 bytes, no fsync) each time the receiver confirms a prefix: after a
// crash, what was sent and not yet confirmed is sent again (duplicates within
// the sink's window: 128 messages for RELP).
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { DEFAULT_SPOOL_BYTES, type SpoolRecovery } from './sink.js';

/** A message in the spool; the sink marks the ones on the wire. */
export interface SpoolItem {
  text: string;
  bytes: number;
  /** RELP transaction number while sent and unanswered. */
  txnr: number;
  done: boolean;
  /** Disk spool: the segment and offset just past this message. */
  seg: number;
  end: number;
}

export interface Spool {
  /** Messages not yet confirmed (in memory or on disk), and their bytes. */
  readonly length: number;
  readonly bytes: number;
  /** Messages the spool could not take (full, or the disk failed), counted. */
  readonly dropped: number;
  /** Why the last message could not be taken, when the disk refused it. */
  readonly lastError: string | undefined;
  /** Take a message; false (and counted in `dropped`) when it does not fit. */
  push(text: string): boolean;
  /** Take one event's messages; each that does not fit is counted. */
  pushAll(texts: string[]): void;
  /** How many unconfirmed messages `at` can give now (the disk spool reads ahead a window). */
  available(): number;
  /** The i-th unconfirmed message, i < available(). */
  at(i: number): SpoolItem;
  /** The first `n` messages were confirmed: forget them. */
  release(n: number): void;
  /** Release files and timers; what is unconfirmed stays (on disk) or is gone (memory). */
  close(): void;
}

/** The disk spool's bound when the sink does not give one. */
export const DEFAULT_DISK_SPOOL_BYTES = 1024 * 1024 * 1024;

export class MemorySpool implements Spool {
  private queue: SpoolItem[] = [];
  private head = 0;
  bytes = 0;
  dropped = 0;
  readonly lastError = undefined;
  private readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get length(): number {
    return this.queue.length - this.head;
  }

  push(text: string): boolean {
    const bytes = Buffer.byteLength(text);
    if (this.bytes + bytes > this.maxBytes) {
      this.dropped++;
      return false;
    }
    this.queue.push({ text, bytes, txnr: 0, done: false, seg: 0, end: 0 });
    this.bytes += bytes;
    return true;
  }

  pushAll(texts: string[]): void {
    for (const t of texts) this.push(t);
  }

  available(): number {
    return this.queue.length - this.head;
  }

  at(i: number): SpoolItem {
    return this.queue[this.head + i];
  }

  release(n: number): void {
    for (let k = 0; k < n; k++) this.bytes -= this.queue[this.head++].bytes;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  close(): void {
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
  }
}

/**
 * A stream sink's spool: on disk when `dir` is given, in a directory of its
 * own under it named after the sink (one setting serves several sinks), else
 * in memory.
 */
export function openSpool(dir: string | undefined, sinkDirName: string, maxBytes: number | undefined): Spool {
  if (dir === undefined) return new MemorySpool(maxBytes ?? DEFAULT_SPOOL_BYTES);
  return new DiskSpool(path.join(dir, sinkDirName.replace(/[^A-Za-z0-9.+-]/g, '_')), { maxBytes: maxBytes ?? DEFAULT_DISK_SPOOL_BYTES });
}

/**
 * What is still queued when a sink closes: a disk spool keeps it for the next
 * start; from a memory spool it is lost, for the sink to count as failed.
 */
export function leftAtClose(spool: Spool, sinkName: string): { lost: number; message: string | undefined } {
  const left = spool.length;
  if (left === 0) return { lost: 0, message: undefined };
  if (spool instanceof DiskSpool) {
    return { lost: 0, message: `${left} messages kept in the disk spool ${spool.dir} for the next start${spool.lastError !== undefined ? `; ${spool.lastError}` : ''}` };
  }
  return { lost: left, message: `${left} messages were still waiting for ${sinkName} at close` };
}

/** What a disk spool found at start; undefined for a memory spool. */
export function recoveryOf(spool: Spool): SpoolRecovery | undefined {
  return spool instanceof DiskSpool ? { dir: spool.dir, messages: spool.recovered, tornBytes: spool.tornBytes } : undefined;
}

/** A disk spool that cannot be used; the message says why and what to do. */
export class SpoolError extends Error {
  readonly code = 'ERR_AUDIT_SPOOL';
}

export interface DiskSpoolOptions {
  /** Bytes on disk of unconfirmed messages (headers included), at most. */
  maxBytes: number;
  /** A new segment file past this size. Default 16 MiB. */
  segmentBytes?: number;
  /** Messages read back from disk and held in memory ahead of the sender. Default 4096. */
  readAhead?: number;
  /** Between fsyncs. Default 1000 ms. */
  fsyncMs?: number;
}

const HEADER = 8;
const SEGMENT = /^[0-9a-f]{16}\.seg$/;
const segName = (seq: number): string => `${seq.toString(16).padStart(16, '0')}.seg`;

/** Whether a process with this pid runs (ours excepted). */
function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DiskSpool implements Spool {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly readAhead: number;

  /** The first unconfirmed message: segment and offset (what `ack` holds). */
  private ackSeg = 0;
  private ackOff = 0;
  /** Where the next message not yet in `loaded` starts. */
  private readSeg = 0;
  private readOff = 0;
  /** The segment being written, its descriptor and size. */
  private writeSeg = 0;
  private writeFd = -1;
  private writeSize = 0;
  private readonly ackFd: number;
  private readonly ackBuf = Buffer.alloc(16);

  /** Unconfirmed messages read into memory, from the ack point on. */
  private loaded: SpoolItem[] = [];
  private loadedHead = 0;
  private total = 0;
  /** Bytes on disk of unconfirmed messages, headers included. */
  private diskBytes = 0;
  /** Messages found on disk at open, from an earlier run. */
  readonly recovered: number;
  /** Bytes at the end of a segment that did not hold whole records (a crash mid-write), cut at open. */
  readonly tornBytes: number;
  dropped = 0;
  lastError: string | undefined;
  private dirty = false;
  private readonly syncTimer: NodeJS.Timeout;
  private closed = false;

  constructor(dir: string, options: DiskSpoolOptions) {
    this.dir = path.resolve(dir);
    this.maxBytes = options.maxBytes;
    this.segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
    this.readAhead = options.readAhead ?? 4096;
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new SpoolError(`cannot make the spool directory ${this.dir}: ${(e as Error).message}`);
    }
    this.claim();
    this.ackFd = fs.openSync(path.join(this.dir, 'ack'), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    const { messages, torn } = this.recover();
    this.recovered = messages;
    this.tornBytes = torn;
    this.syncTimer = setInterval(() => this.sync(), options.fsyncMs ?? 1000);
    this.syncTimer.unref();
  }

  get length(): number {
    return this.total;
  }

  get bytes(): number {
    return this.diskBytes;
  }

  /** Directories open in this process. */
  private static readonly inUse = new Set<string>();

  /** One agent per spool: a second would send the same messages and confuse the ack point. */
  private claim(): void {
    if (DiskSpool.inUse.has(this.dir)) throw new SpoolError(`the spool ${this.dir} is in use by another sink of this agent; give each sink its own spool directory`);
    const owner = path.join(this.dir, 'owner');
    let other: number | undefined;
    try {
      other = Number(fs.readFileSync(owner, 'utf8').trim());
    } catch {
      // no owner yet
    }
    if (other !== undefined && Number.isInteger(other) && other > 0 && alive(other)) {
      throw new SpoolError(`the spool ${this.dir} is in use by process ${other}; give each sink of each agent its own spool directory`);
    }
    fs.writeFileSync(owner, `${process.pid}\n`, { mode: 0o600 });
    DiskSpool.inUse.add(this.dir);
  }

  private segments(): number[] {
    return fs
      .readdirSync(this.dir)
      .filter((f) => SEGMENT.test(f))
      .map((f) => parseInt(f.slice(0, 16), 16))
      .sort((a, b) => a - b);
  }

  /** Find the ack point and count what follows it; cut a torn tail; open the last segment for appending. */
  private recover(): { messages: number; torn: number } {
    const n = fs.readSync(this.ackFd, this.ackBuf, 0, 16, 0);
    const segs = this.segments();
    // An ack point past every segment is not ours to trust (a damaged file):
    // sending again from the first segment risks duplicates, not loss.
    if (n === 16 && (segs.length === 0 || Number(this.ackBuf.readBigUInt64LE(0)) <= segs[segs.length - 1])) {
      this.ackSeg = Number(this.ackBuf.readBigUInt64LE(0));
      this.ackOff = Number(this.ackBuf.readBigUInt64LE(8));
    } else {
      this.ackSeg = segs[0] ?? 0;
      this.ackOff = 0;
    }
    // Segments wholly before the ack point were confirmed.
    for (const s of segs) if (s < this.ackSeg) fs.rmSync(path.join(this.dir, segName(s)), { force: true });
    const live = segs.filter((s) => s >= this.ackSeg);
    if (live.length === 0 || live[0] !== this.ackSeg) {
      // Nothing left at the ack point (its segment was confirmed and removed): start after it.
      this.ackSeg = live[0] ?? this.ackSeg;
      this.ackOff = 0;
    }
    let messages = 0;
    let torn = 0;
    for (const s of live) {
      const file = path.join(this.dir, segName(s));
      const data = fs.readFileSync(file);
      let off = s === this.ackSeg ? Math.min(this.ackOff, data.length) : 0;
      const start = off;
      while (off + HEADER <= data.length) {
        const len = data.readUInt32LE(off);
        if (off + HEADER + len > data.length || crc32(data.subarray(off + HEADER, off + HEADER + len)) !== data.readUInt32LE(off + 4)) break;
        off += HEADER + len;
        messages++;
      }
      if (off < data.length) {
        // A record cut by a crash or a full disk: what follows it in this segment cannot be framed.
        torn += data.length - off;
        fs.truncateSync(file, off);
      }
      this.diskBytes += off - start;
    }
    this.total = messages;
    this.readSeg = this.ackSeg;
    this.readOff = this.ackOff;
    this.writeSeg = live.length > 0 ? live[live.length - 1] : this.ackSeg;
    this.openWrite();
    this.writeAck();
    return { messages, torn };
  }

  private openWrite(): void {
    this.writeFd = fs.openSync(path.join(this.dir, segName(this.writeSeg)), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o600);
    this.writeSize = fs.fstatSync(this.writeFd).size;
  }

  push(text: string): boolean {
    const before = this.dropped;
    this.pushAll([text]);
    return this.dropped === before;
  }

  pushAll(texts: string[]): void {
    if (this.closed) {
      this.dropped += texts.length;
      return;
    }
    // One write per event: its messages framed into one buffer.
    const kept: Array<{ text: string; body: Buffer }> = [];
    let size = 0;
    for (const text of texts) {
      const body = Buffer.from(text);
      if (this.diskBytes + size + HEADER + body.length > this.maxBytes) {
        this.dropped++;
        continue;
      }
      kept.push({ text, body });
      size += HEADER + body.length;
    }
    if (size === 0) return;
    if (this.writeSize > 0 && this.writeSize + size > this.segmentBytes) this.nextSegment();
    const data = Buffer.allocUnsafe(size);
    let off = 0;
    for (const { body } of kept) {
      data.writeUInt32LE(body.length, off);
      data.writeUInt32LE(crc32(body), off + 4);
      body.copy(data, off + HEADER);
      off += HEADER + body.length;
    }
    const at = this.writeSize;
    try {
      let done = 0;
      while (done < size) done += fs.writeSync(this.writeFd, data, done, size - done);
    } catch (e) {
      // A full disk or an I/O error: the partial record is cut off so the file stays framed.
      try {
        fs.ftruncateSync(this.writeFd, at);
      } catch {
        // the next open cuts it (a torn tail)
      }
      this.dropped += kept.length;
      this.lastError = `the disk spool ${this.dir} could not be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): messages dropped and counted`;
      return;
    }
    this.lastError = undefined;
    this.writeSize += size;
    this.diskBytes += size;
    this.total += kept.length;
    this.dirty = true;
    // Messages right behind everything loaded stay in memory: not read back.
    if (this.readSeg === this.writeSeg && this.readOff === at && this.loaded.length - this.loadedHead < this.readAhead) {
      let end = at;
      for (const { text, body } of kept) {
        end += HEADER + body.length;
        this.loaded.push({ text, bytes: body.length, txnr: 0, done: false, seg: this.writeSeg, end });
      }
      this.readOff = end;
    }
  }

  private nextSegment(): void {
    fs.fsyncSync(this.writeFd);
    fs.closeSync(this.writeFd);
    this.writeSeg++;
    this.openWrite();
  }

  available(): number {
    const have = this.loaded.length - this.loadedHead;
    // Refilled when half gone, not after every release: each read from disk
    // is then a large one.
    if (have < this.total && (have === 0 || have <= this.readAhead / 2)) this.readMore();
    return this.loaded.length - this.loadedHead;
  }

  /** Read the next messages from disk into memory, up to the read-ahead. */
  private readMore(): void {
    while (this.loaded.length - this.loadedHead < this.readAhead) {
      if (this.readSeg === this.writeSeg && this.readOff >= this.writeSize) return;
      const file = path.join(this.dir, segName(this.readSeg));
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        if (this.readSeg >= this.writeSeg) return;
        this.readSeg++;
        this.readOff = 0;
        continue;
      }
      try {
        const size = fs.fstatSync(fd).size;
        if (this.readOff >= size) {
          if (this.readSeg >= this.writeSeg) return;
          this.readSeg++;
          this.readOff = 0;
          continue;
        }
        const want = Math.min(size - this.readOff, 1024 * 1024);
        const buf = Buffer.allocUnsafe(want);
        const got = fs.readSync(fd, buf, 0, want, this.readOff);
        let off = 0;
        while (off + HEADER <= got && this.loaded.length - this.loadedHead < this.readAhead) {
          const len = buf.readUInt32LE(off);
          if (off + HEADER + len > got) {
            if (off === 0) {
              // One message larger than the read: read it alone.
              const big = Buffer.allocUnsafe(HEADER + len);
              fs.readSync(fd, big, 0, HEADER + len, this.readOff);
              this.readOff += HEADER + len;
              this.loaded.push({ text: big.toString('utf8', HEADER), bytes: len, txnr: 0, done: false, seg: this.readSeg, end: this.readOff });
            }
            break;
          }
          const end = this.readOff + off + HEADER + len;
          this.loaded.push({ text: buf.toString('utf8', off + HEADER, off + HEADER + len), bytes: len, txnr: 0, done: false, seg: this.readSeg, end });
          off += HEADER + len;
        }
        if (off > 0) this.readOff += off;
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  at(i: number): SpoolItem {
    return this.loaded[this.loadedHead + i];
  }

  release(n: number): void {
    if (n === 0) return;
    let last: SpoolItem | undefined;
    for (let k = 0; k < n; k++) {
      last = this.loaded[this.loadedHead++];
      this.diskBytes -= HEADER + last.bytes;
    }
    this.total -= n;
    if (this.loadedHead > 4096 && this.loadedHead * 2 > this.loaded.length) {
      this.loaded = this.loaded.slice(this.loadedHead);
      this.loadedHead = 0;
    }
    const before = this.ackSeg;
    this.ackSeg = last!.seg;
    this.ackOff = last!.end;
    this.writeAck();
    // Segments now wholly confirmed (never the one being written).
    for (let s = before; s < this.ackSeg; s++) fs.rmSync(path.join(this.dir, segName(s)), { force: true });
  }

  private writeAck(): void {
    this.ackBuf.writeBigUInt64LE(BigInt(this.ackSeg), 0);
    this.ackBuf.writeBigUInt64LE(BigInt(this.ackOff), 8);
    fs.writeSync(this.ackFd, this.ackBuf, 0, 16, 0);
  }

  private sync(): void {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    try {
      fs.fsyncSync(this.writeFd);
    } catch (e) {
      this.lastError = `the disk spool ${this.dir} could not be synced: ${(e as Error).message}`;
    }
  }

  close(): void {
    if (this.closed) return;
    this.sync();
    this.closed = true;
    clearInterval(this.syncTimer);
    fs.closeSync(this.writeFd);
    fs.fsyncSync(this.ackFd);
    fs.closeSync(this.ackFd);
    fs.rmSync(path.join(this.dir, 'owner'), { force: true });
    DiskSpool.inUse.delete(this.dir);
  }
}
