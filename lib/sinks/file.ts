// A log file on this host, rotated by size as auditd rotates audit.log
// (max_log_file, num_logs, max_log_file_action=ROTATE): FILE, FILE.1 … FILE.(N-1).
// Created 0600; an existing file readable by others is made private.
import fs from 'node:fs';
import path from 'node:path';
import type { AuditEvent } from '../assemble/event.js';
import { eventToRaw } from '../format/raw.js';
import { DEFAULT_SPOOL_BYTES, type Sink, type SinkStats, Waiters } from './sink.js';
import { alertToJSON, type Alert } from '../watch/alert.js';
import { lossToJSON, type LossNotice } from './loss.js';
import type { JsonRecords } from '../shape/json.js';

export interface FileSinkOptions {
  path: string;
  /** `raw` (audit.log lines: ausearch and aureport read the file) or `json` (one event per line). Default raw. */
  format?: 'raw' | 'json' | 'ecs';
  /** Rotate when the file reaches this many bytes. Default 8 MiB (auditd's max_log_file = 8). 0: never. */
  maxBytes?: number;
  /** Files kept, the current one included (auditd's num_logs). Default 5. */
  numLogs?: number;
  /** Bytes waiting for the disk, at most; past it a line is dropped and counted (spool-dropped). Default 64 MiB. */
  spoolBytes?: number;
  /** For json: how much of each record to write (full, fields, none). Default full. */
  records?: JsonRecords;
}

/** Writes are gathered up to this size into one write call. */
const BATCH_BYTES = 1024 * 1024;

export class FileSink implements Sink {
  readonly name: string;
  private readonly file: string;
  private readonly format: 'raw' | 'json' | 'ecs';
  private readonly records: JsonRecords;
  private readonly maxBytes: number;
  private readonly numLogs: number;
  private fd: number;
  private size: number;
  /** The file ends inside a line (an earlier run was killed writing, or a write failed midway). */
  private lineOpen: boolean;
  private pending: string[] = [];
  private pendingCount = 0;
  private pendingBytes = 0;
  private readonly spoolBytes: number;
  private spoolDropped = 0;
  private writing = false;
  private delivered = 0;
  private failed = 0;
  private lastError: string | undefined;
  private closed = false;
  private readonly waiters = new Waiters();

  constructor(options: FileSinkOptions) {
    this.file = path.resolve(options.path);
    this.name = `file:${this.file}`;
    this.format = options.format ?? 'raw';
    this.records = options.records ?? 'full';
    this.maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.numLogs = Math.max(1, options.numLogs ?? 5);
    this.spoolBytes = options.spoolBytes ?? DEFAULT_SPOOL_BYTES;
    this.fd = this.open();
    this.size = fs.fstatSync(this.fd).size;
    this.lineOpen = endsInsideLine(this.file, this.size);
  }

  private open(): number {
    let fd: number;
    try {
      fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw Object.assign(
        new Error(`cannot open ${this.file} for writing: ${code === 'ENOENT' ? 'its directory does not exist; create it (mode 0700)' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`),
        { code, syscall: 'open', path: this.file },
      );
    }
    const mode = fs.fstatSync(fd).mode;
    if (mode & 0o007) fs.fchmodSync(fd, mode & 0o770);
    return fd;
  }

  write(ev: AuditEvent): void {
    this.append(
      this.format === 'json' ? JSON.stringify(this.records === 'full' ? ev : ev.toJSONWith(this.records)) : this.format === 'ecs' ? JSON.stringify(ev.toECS()) : eventToRaw(ev),
    );
  }

  /** Alerts are JSON lines whatever the format: no audit.log line can say what they say. */
  writeAlert(alert: Alert): void {
    this.append(JSON.stringify(alertToJSON(alert)));
  }

  /** A JSON line too, for the same reason. */
  writeNotice(notice: LossNotice): void {
    this.append(JSON.stringify(lossToJSON(notice)));
  }

  private append(line: string): void {
    if (this.closed) return void this.failed++;
    // A disk slower than the events: what is queued stays, this line is counted.
    if (this.pendingBytes + line.length >= this.spoolBytes) return void this.spoolDropped++;
    this.pending.push(line);
    this.pendingCount++;
    this.pendingBytes += line.length + 1;
    if (!this.writing) {
      this.writing = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    if (this.pending.length === 0) {
      this.writing = false;
      this.waiters.wake();
      return;
    }
    // Take lines up to a batch, and no further than the rotation point.
    let bytes = 0;
    let n = 0;
    const room = this.maxBytes > 0 ? Math.max(1, this.maxBytes - this.size) : Infinity;
    while (n < this.pending.length && bytes < Math.min(BATCH_BYTES, room)) {
      bytes += Buffer.byteLength(this.pending[n]) + 1;
      n++;
    }
    const lines = this.pending.splice(0, n);
    const count = n;
    for (const l of lines) this.pendingBytes -= l.length + 1;
    // A line left open on disk is ended first, or the next line would be joined to it.
    const data = Buffer.from((this.lineOpen ? '\n' : '') + lines.join('\n') + '\n');
    this.writeOut(data, 0, count);
  }

  /**
   * A write can be short (a disk filling up midway): the rest is written on.
   * At an error, the lines wholly on disk count as delivered and the others as
   * failed, and a line cut short is ended before the next.
   */
  private writeOut(data: Buffer, offset: number, count: number): void {
    fs.write(this.fd, data, offset, data.length - offset, null, (e, written) => {
      if (!e && written > 0 && offset + written < data.length) return this.writeOut(data, offset + written, count);
      const error = e ?? (offset + written < data.length ? new Error('the write made no progress') : undefined);
      const onDisk = error ? offset : data.length;
      this.size += onDisk;
      if (error) {
        // The newline that ended an open line is not one of these lines'.
        const whole = onDisk === 0 ? 0 : newlines(data, onDisk) - (this.lineOpen ? 1 : 0);
        if (onDisk > 0) this.lineOpen = data[onDisk - 1] !== 0x0a;
        this.delivered += whole;
        this.failed += count - whole;
        this.lastError = `${this.name}: ${error.message}`;
      } else {
        this.lineOpen = false;
        this.delivered += count;
        this.lastError = undefined;
        if (this.maxBytes > 0 && this.size >= this.maxBytes) this.rotate();
      }
      this.pendingCount -= count;
      this.drain();
    });
  }

  private rotate(): void {
    try {
      fs.closeSync(this.fd);
      if (this.numLogs > 1) {
        for (let i = this.numLogs - 2; i >= 1; i--) {
          const from = `${this.file}.${i}`;
          if (fs.existsSync(from)) fs.renameSync(from, `${this.file}.${i + 1}`);
        }
        fs.renameSync(this.file, `${this.file}.1`);
      } else fs.truncateSync(this.file, 0);
      this.fd = this.open();
      this.size = 0;
    } catch (e) {
      this.lastError = `${this.name}: rotation failed: ${(e as Error).message}`;
      this.fd = this.open();
      this.size = fs.fstatSync(this.fd).size;
      this.lineOpen = endsInsideLine(this.file, this.size);
    }
  }

  flush(timeoutMs?: number): Promise<boolean> {
    return this.waiters.wait(() => this.pendingCount === 0, timeoutMs);
  }

  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    await this.flush(timeoutMs);
    this.closed = true;
    this.failed += this.pendingCount;
    fs.closeSync(this.fd);
  }

  stats(): SinkStats {
    return {
      name: this.name,
      state: this.closed ? 'closed' : 'open',
      delivered: this.delivered,
      queued: this.pendingCount,
      queuedBytes: this.pendingBytes,
      spoolDropped: this.spoolDropped,
      failed: this.failed,
      reconnects: 0,
      lastError: this.lastError,
    };
  }
}

/** Whether a file of `size` bytes ends without a newline; unknown (unreadable) counts as not. */
function endsInsideLine(file: string, size: number): boolean {
  if (size === 0) return false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const last = Buffer.alloc(1);
    return fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function newlines(data: Buffer, end: number): number {
  let n = 0;
  for (let i = data.indexOf(0x0a); i !== -1 && i < end; i = data.indexOf(0x0a, i + 1)) n++;
  return n;
}
