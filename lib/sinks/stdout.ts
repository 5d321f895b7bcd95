// Standard output as a sink, for `forward --to stdout` and pipelines
// (| jq, | vector): one event per line, at the pace the reader takes them.
// What the reader has not taken waits in the stream's buffer up to a bound
// (spoolBytes); past it a line is dropped and counted, never held.
import type { AuditEvent } from '../assemble/event.js';
import { formatEvent, type Format } from '../format/index.js';
import { alertToJSON, alertToText, type Alert } from '../watch/alert.js';
import { lossToJSON, type LossNotice } from './loss.js';
import type { JsonRecords } from '../shape/json.js';
import { DEFAULT_SPOOL_BYTES, type Sink, type SinkStats, Waiters } from './sink.js';

export class StdoutSink implements Sink {
  readonly name = 'stdout';
  private readonly format: Format;
  private readonly records: JsonRecords;
  private readonly stream: NodeJS.WriteStream;
  private waiting = 0;
  private delivered = 0;
  private failed = 0;
  private lastError: string | undefined;
  private closed = false;
  private readonly waiters = new Waiters();
  private readonly spoolBytes: number;
  private spoolDropped = 0;

  constructor(options: { format?: Format; stream?: NodeJS.WriteStream; spoolBytes?: number; records?: JsonRecords } = {}) {
    this.format = options.format ?? 'json';
    this.records = options.records ?? 'full';
    this.stream = options.stream ?? process.stdout;
    this.spoolBytes = options.spoolBytes ?? DEFAULT_SPOOL_BYTES;
    this.stream.on('error', (e) => (this.lastError = e.message));
  }

  write(ev: AuditEvent): void {
    this.line(formatEvent(ev, this.format, false, this.records));
  }

  writeAlert(alert: Alert): void {
    this.line(this.format === 'text' ? alertToText(alert) : JSON.stringify(alertToJSON(alert)));
  }

  writeNotice(notice: LossNotice): void {
    const json = lossToJSON(notice);
    this.line(this.format === 'text' ? String(json.message) : JSON.stringify(json));
  }

  private line(text: string | Buffer): void {
    if (this.closed) return void this.failed++;
    // The reader is slower than the events: what is already queued is kept, this line is counted.
    if (this.stream.writableLength + text.length >= this.spoolBytes) return void this.spoolDropped++;
    this.waiting++;
    this.stream.write(typeof text === 'string' ? text + '\n' : Buffer.concat([text, Buffer.from('\n')]), (e) => {
      this.waiting--;
      if (e) this.failed++;
      else this.delivered++;
      this.waiters.wake();
    });
  }

  flush(timeoutMs?: number): Promise<boolean> {
    return this.waiters.wait(() => this.waiting === 0, timeoutMs);
  }

  async close(timeoutMs = 5000): Promise<void> {
    await this.flush(timeoutMs);
    this.closed = true;
  }

  stats(): SinkStats {
    return {
      name: this.name,
      state: this.closed ? 'closed' : 'open',
      delivered: this.delivered,
      queued: this.waiting,
      queuedBytes: this.stream.writableLength,
      spoolDropped: this.spoolDropped,
      failed: this.failed,
      reconnects: 0,
      lastError: this.lastError,
    };
  }
}
