// Where events go once they leave the process. Every sink takes events
// without blocking the stream (it queues), counts what it could not deliver,
// and says when everything queued has been delivered.
import type { AuditEvent } from '../assemble/event.js';
import type { Alert } from '../watch/alert.js';
import type { LossNotice } from './loss.js';

/** What a sink holds for a receiver (or a disk, or a pipe) slower than the events, by default: past it new messages are dropped and counted. */
export const DEFAULT_SPOOL_BYTES = 64 * 1024 * 1024;

/** A wrong sink description; the message says which part and what would do. */
export class SinkSpecError extends Error {
  readonly code = 'ERR_AUDIT_SINK';
}

export type SinkState = 'connecting' | 'connected' | 'down' | 'open' | 'closed';

export interface SinkStats {
  /** What the sink is, e.g. `relp://logs:2514` or `file:/var/log/linux-audit/audit.log`. */
  name: string;
  state: SinkState;
  /**
   * Messages the receiver took (one per event; one per record for raw
   * payloads): RELP acknowledged, TCP/TLS handed to the kernel's socket,
   * UDP sent, file written.
   */
  delivered: number;
  /** Messages waiting in the spool now, and their bytes. */
  queued: number;
  queuedBytes: number;
  /** Messages dropped because the spool was full: counted, never silent. */
  spoolDropped: number;
  /** Messages dropped for another reason (too large for UDP, refused, still queued at close), counted. */
  failed: number;
  /** Connections made after the first. */
  reconnects: number;
  /** The last error, as a sentence, while the sink is not delivering. */
  lastError: string | undefined;
}

/** What a disk spool found at start, left by an earlier run. */
export interface SpoolRecovery {
  dir: string;
  /** Messages waiting from an earlier run, sent first. */
  messages: number;
  /** Bytes at a segment's end that were no whole message (a crash mid-write), cut. */
  tornBytes: number;
}

export interface Sink {
  readonly name: string;
  /** Sinks with a disk spool: what it held at start. */
  readonly recovered?: SpoolRecovery;
  /** Queue an event; returns at once. */
  write(ev: AuditEvent): void;
  /** Queue a watch alert (one message, JSON, with its own syslog severity); returns at once. */
  writeAlert(alert: Alert): void;
  /** Queue a loss notice (one message, JSON; syslog severity warning, MSGID LOSS); returns at once. */
  writeNotice(notice: LossNotice): void;
  /** Resolves true when everything queued so far is delivered, false if `timeoutMs` passes first. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Flush (bounded by `timeoutMs`), then release the connection or file. What is still queued is counted as failed. */
  close(timeoutMs?: number): Promise<void>;
  stats(): SinkStats;
}

/** A promise that resolves when `ready()` holds, polled on `wake` calls, or with false at the deadline. */
export class Waiters {
  private waiting: Array<{ ready: () => boolean; resolve: (ok: boolean) => void; timer?: NodeJS.Timeout }> = [];

  wait(ready: () => boolean, timeoutMs: number | undefined): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const entry: (typeof this.waiting)[number] = { ready, resolve };
      if (timeoutMs !== undefined) {
        entry.timer = setTimeout(() => {
          this.waiting = this.waiting.filter((w) => w !== entry);
          resolve(false);
        }, timeoutMs);
      }
      this.waiting.push(entry);
    });
  }

  wake(): void {
    if (this.waiting.length === 0) return;
    this.waiting = this.waiting.filter((w) => {
      if (!w.ready()) return true;
      clearTimeout(w.timer);
      w.resolve(true);
      return false;
    });
  }
}
