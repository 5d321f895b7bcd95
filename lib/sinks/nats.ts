// Events into NATS JetStream, a distributed log: each event one message on a
// subject per rule key or per container, published with an acknowledgement
// from the stream (the message is stored, replicated as the stream says)
// before it leaves our spool. Every message carries a Nats-Msg-Id made from
// the host, the event's time and serial, so what is sent again after a lost
// acknowledgement, a server restart or an agent restart is stored once (within
// the stream's duplicate window, 2 minutes by default).
import os from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { AuditEvent } from '../assemble/event.js';
import type { JsonRecords } from '../shape/json.js';
import { alertToJSON, type Alert } from '../watch/alert.js';
import { lossToJSON, type LossNotice } from './loss.js';
import { SinkSpecError, Waiters, type Sink, type SinkState, type SinkStats, type SpoolRecovery } from './sink.js';
import { leftAtClose, openSpool, recoveryOf, type Spool, type SpoolItem } from './spool.js';

export interface NatsSinkOptions {
  /** The server to connect to first (`nats://host:4222`); the client learns the cluster's others from it. */
  server: string;
  /** Subjects start with this. Default `audit`. */
  subject?: string;
  /** The next subject token: the event's first rule key (default), its container, or nothing. */
  subjectBy?: 'key' | 'container' | 'none';
  /** A stream to make sure of: created (file storage, subjects `SUBJECT` and `SUBJECT.>`) if it does not exist, left as it is if it does. */
  stream?: string;
  format?: 'json' | 'ecs';
  records?: JsonRecords;
  /** Bytes held while the server is away or slow. Default 64 MiB in memory, 1 GiB on disk. */
  spoolBytes?: number;
  /** Hold them on disk, in this directory, across restarts (as the syslog sinks). */
  spoolDir?: string;
  /** Messages published and not yet acknowledged. Default 256. */
  window?: number;
  /** How long to wait for an acknowledgement before sending again. Default 5000 ms. */
  ackTimeoutMs?: number;
  /** PEM files: the CA of the server's certificate; ours, for servers that ask. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** user:password, when the server asks for them. */
  user?: string;
  password?: string;
}

/** A subject token from any text: NATS forbids '.', '*', '>' and white space in one. */
function token(text: string): string {
  const t = text.replace(/[^A-Za-z0-9_:@+=-]/g, '_');
  return t === '' ? '_' : t.slice(0, 200);
}

export class NatsSink implements Sink {
  readonly name: string;
  private readonly options: NatsSinkOptions;
  private readonly prefix: string;
  private readonly host = os.hostname();
  private readonly spool: Spool;
  private readonly window: number;
  private readonly waiters = new Waiters();

  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private state: SinkState = 'connecting';
  private inflight = 0;
  /** Bumped when what is on the wire is given up on: late answers of an older round are ignored. */
  private round = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoff = 250;
  private connectTimer: NodeJS.Timeout | undefined;
  private connectBackoff = 250;
  private closing = false;
  private sequence = 0;

  private delivered = 0;
  private failed = 0;
  private reconnects = 0;
  private lastError: string | undefined;

  constructor(options: NatsSinkOptions) {
    this.options = options;
    this.prefix = options.subject ?? 'audit';
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(this.prefix)) throw new SinkSpecError(`nats subject "${this.prefix}": write tokens of letters, digits, _ and -, joined by dots (e.g. audit or audit.prod)`);
    this.name = `nats://${options.server.replace(/^nats:\/\//, '').replace(/^[^@]*@/, '')}/${this.prefix}`;
    this.window = options.window ?? 256;
    this.spool = openSpool(options.spoolDir, `nats-${this.name.slice('nats://'.length)}`, options.spoolBytes);
    void this.start();
  }

  private async start(): Promise<void> {
    const { tls } = this.options;
    let nc: NatsConnection | undefined;
    try {
      // The client loads when a NATS sink first connects, not with every
      // command that could name one (docs/architecture.md).
      const [{ connect }, { jetstream }] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]);
      nc = await connect({
        servers: this.options.server,
        name: `linux-audit ${this.host}`,
        user: this.options.user,
        pass: this.options.password,
        // Once connected, the client reconnects until the agent stops (the
        // spool holds what waits meanwhile). The first connection is ours to
        // retry, so that closing the sink can stop it.
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        ...(tls && { tls: { caFile: tls.ca, certFile: tls.cert, keyFile: tls.key } }),
      });
      if (this.closing) return void (await nc.close());
      if (this.options.stream !== undefined) await this.ensureStream(nc, this.options.stream);
      this.nc = nc;
      this.connectBackoff = 250;
      this.js = jetstream(nc);
      this.state = 'connected';
      this.lastError = undefined;
      void this.follow(nc);
      this.pump();
    } catch (e) {
      // A server without JetStream, or a stream we may not make: this connection goes, the next try makes another.
      await nc?.close().catch(() => undefined);
      this.lastError = `${this.name}: ${(e as Error).message}`;
      this.state = 'down';
      if (!this.closing) {
        this.connectTimer = setTimeout(() => void this.start(), this.connectBackoff);
        this.connectTimer.unref();
        this.connectBackoff = Math.min(this.connectBackoff * 2, 30_000);
      }
    }
  }

  private async ensureStream(nc: NatsConnection, name: string): Promise<void> {
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.info(name);
    } catch {
      await jsm.streams.add({ name, subjects: [this.prefix, `${this.prefix}.>`] });
    }
  }

  /** The connection's state, from the client's status events. */
  private async follow(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.state = 'down';
        this.lastError = `${this.name}: disconnected`;
      } else if (s.type === 'reconnect') {
        this.state = 'connected';
        this.reconnects++;
        this.lastError = undefined;
        // What was on the wire may have been lost with the connection: sent again (the msg ids make it once).
        this.resend();
      }
    }
  }

  get recovered(): SpoolRecovery | undefined {
    return recoveryOf(this.spool);
  }

  private subjectOf(ev: AuditEvent): string {
    switch (this.options.subjectBy ?? 'key') {
      case 'none':
        return this.prefix;
      case 'container': {
        const c = ev.container;
        return `${this.prefix}.${c === null ? 'host' : c === undefined ? 'unknown' : token(c.name ?? c.id.slice(0, 12))}`;
      }
      case 'key':
        return `${this.prefix}.${ev.keys.length > 0 ? token(ev.keys[0]) : '_'}`;
    }
  }

  write(ev: AuditEvent): void {
    const payload = this.options.format === 'ecs' ? JSON.stringify(ev.toECS()) : JSON.stringify(this.options.records === undefined || this.options.records === 'full' ? ev : ev.toJSONWith(this.options.records));
    this.enqueue(this.subjectOf(ev), `${this.host}:${ev.time}:${ev.serial}`, payload);
  }

  writeAlert(alert: Alert): void {
    this.enqueue(`${this.prefix}.alert.${token(alert.kind)}`, `${this.host}:alert:${Date.now()}:${process.pid}:${++this.sequence}`, JSON.stringify(alertToJSON(alert)));
  }

  writeNotice(notice: LossNotice): void {
    this.enqueue(`${this.prefix}.loss`, `${this.host}:loss:${notice.time}`, JSON.stringify(lossToJSON(notice)));
  }

  // A spooled message is its subject, its id and its payload on one text:
  // JSON holds no raw newline, a subject or id none either.
  private enqueue(subject: string, id: string, payload: string): void {
    if (this.closing) return void this.failed++;
    this.spool.push(`${subject}\n${id}\n${payload}`);
    this.pump();
  }

  private pump(): void {
    const js = this.js;
    if (js === undefined || this.state !== 'connected' || this.retryTimer !== undefined) return this.releaseDone();
    const available = this.spool.available();
    const maxPayload = this.nc?.info?.max_payload ?? 1024 * 1024;
    while (this.inflight < this.window && this.inflight < available) {
      const item = this.spool.at(this.inflight++);
      item.done = false;
      const a = item.text.indexOf('\n');
      const b = item.text.indexOf('\n', a + 1);
      const payload = item.text.slice(b + 1);
      if (Buffer.byteLength(payload) > maxPayload) {
        // The server would refuse it whatever we do: counted, not retried.
        this.failed++;
        this.lastError = `${this.name}: a ${Buffer.byteLength(payload)}-byte message is over the server's max_payload (${maxPayload}); raise it, or cut events (--max-argv-bytes, records=fields)`;
        item.done = true;
        continue;
      }
      const round = this.round;
      js.publish(item.text.slice(0, a), payload, { msgID: item.text.slice(a + 1, b), timeout: this.options.ackTimeoutMs ?? 5000 }).then(
        () => this.confirm(item, round),
        (e: Error) => this.giveUp(round, e),
      );
    }
    this.releaseDone();
  }

  /** An acknowledgement (a duplicate's too: the stream has it). The confirmed prefix leaves the spool. */
  private confirm(item: SpoolItem, round: number): void {
    if (round !== this.round || item.done) return;
    item.done = true;
    this.delivered++;
    this.backoff = 250;
    this.pump();
  }

  private releaseDone(): void {
    let n = 0;
    while (n < this.inflight && this.spool.at(n).done) n++;
    if (n === 0) return;
    this.spool.release(n);
    this.inflight -= n;
    this.waiters.wake();
  }

  /** A publish failed (timeout, no stream, connection lost): everything on the wire goes again, after a wait. */
  private giveUp(round: number, e: Error): void {
    if (round !== this.round || this.closing) return;
    // Nothing answered the publish: the client calls that JetStreamNotEnabled, and it is also what a subject no stream takes gets.
    const noStream = e.name === 'JetStreamNotEnabled' || /no responders|503/i.test(e.message);
    this.lastError = `${this.name}: ${noStream ? `nothing took the publish (JetStream off, or no stream takes subjects ${this.prefix}.>): enable JetStream, create a stream, or give stream=NAME` : e.message}`;
    this.retryTimer = setTimeout(() => {
      // A server started again with an empty store has lost the stream we made: made again.
      const again = noStream && this.options.stream !== undefined && this.nc !== undefined ? this.ensureStream(this.nc, this.options.stream) : Promise.resolve();
      void again
        .catch((err: Error) => (this.lastError = `${this.name}: ${err.message}`))
        .then(() => {
          this.retryTimer = undefined;
          this.resend();
        });
    }, this.backoff);
    this.retryTimer.unref();
    this.backoff = Math.min(this.backoff * 2, 30_000);
  }

  private resend(): void {
    this.round++;
    for (let i = 0; i < this.inflight; i++) this.spool.at(i).done = false;
    this.inflight = 0;
    this.pump();
  }

  flush(timeoutMs?: number): Promise<boolean> {
    return this.waiters.wait(() => this.spool.length === 0, timeoutMs);
  }

  async close(timeoutMs = 5000): Promise<void> {
    if (this.closing) return;
    await this.flush(timeoutMs);
    this.closing = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.connectTimer);
    const left = leftAtClose(this.spool, this.name);
    this.failed += left.lost;
    this.lastError = left.message ?? this.lastError;
    await this.nc?.close().catch(() => undefined);
    this.spool.close();
    this.state = 'closed';
    this.waiters.wake();
  }

  stats(): SinkStats {
    return {
      name: this.name,
      state: this.state,
      delivered: this.delivered,
      queued: this.spool.length,
      queuedBytes: this.spool.bytes,
      spoolDropped: this.spool.dropped,
      failed: this.failed,
      reconnects: this.reconnects,
      lastError: this.state === 'closed' ? this.lastError : (this.spool.lastError ?? (this.state === 'connected' && this.retryTimer === undefined ? undefined : this.lastError)),
    };
  }
}
