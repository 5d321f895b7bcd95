// Syslog off the host: RFC 5424 messages over UDP, TCP or TLS (octet-counting
// framing, RFC 6587 3.4.1), or RELP (plain or TLS) where delivery must be
// acknowledged. Stream transports keep a bounded spool while the receiver is
// away and reconnect with backoff; what the spool cannot hold is counted.
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { AuditEvent } from '../assemble/event.js';
import type { Alert } from '../watch/alert.js';
import type { LossNotice } from './loss.js';
import { OPEN_OFFERS, RelpParser, encodeRelpFrame, responseCode } from './relp.js';
import { type Sink, SinkSpecError, type SinkState, type SinkStats, type SpoolRecovery, Waiters } from './sink.js';
import { leftAtClose, openSpool, recoveryOf, type Spool } from './spool.js';
import { SyslogFormatter, type SyslogMessageOptions } from './syslog-message.js';

export type SyslogTransport = 'udp' | 'tcp' | 'tls' | 'relp' | 'relp+tls';

export interface SyslogTlsOptions {
  /** PEM file of the CA that signed the receiver's certificate (default: Node's CA list). */
  ca?: string;
  /** PEM files of our certificate and key, for receivers that ask for one. */
  cert?: string;
  key?: string;
  /** Name the certificate must carry; default the host. */
  servername?: string;
  /** Check the receiver's certificate. Default true; false only for tests and labs. */
  verify?: boolean;
}

export interface SyslogSinkOptions extends SyslogMessageOptions {
  transport: SyslogTransport;
  host: string;
  /** Default 514 (udp, tcp), 6514 (tls), 2514 (relp). */
  port?: number;
  tls?: SyslogTlsOptions;
  /** Bytes of messages held while the receiver is away or slow. Default 64 MiB in memory, 1 GiB on disk. */
  spoolBytes?: number;
  /** Hold them on disk, in this directory (one per sink), across restarts: lib/sinks/spool.ts. */
  spoolDir?: string;
  /** First and longest wait between connection attempts. Default 250 ms and 30 s. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** RELP messages sent and not yet answered. Default 128, as rsyslog's omrelp. */
  relpWindow?: number;
}

const DEFAULT_PORT: Record<SyslogTransport, number> = { udp: 514, tcp: 514, tls: 6514, relp: 2514, 'relp+tls': 2514 };
/** Largest UDP payload over IPv4. */
const UDP_MAX = 65507;
/** Bytes handed to one socket write: large enough for few syscalls, small enough to resend cheaply. */
const WRITE_BATCH = 256 * 1024;


function readPem(what: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new SinkSpecError(`cannot read the TLS ${what} file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

export function createSyslogSink(options: SyslogSinkOptions): Sink {
  if (options.transport === 'udp' && options.spoolDir !== undefined) throw new SinkSpecError(`udp://${options.host}: UDP sends at once and holds nothing; a disk spool needs tcp, tls, relp or relp+tls`);
  return options.transport === 'udp' ? new UdpSyslogSink(options) : new StreamSyslogSink(options);
}

class UdpSyslogSink implements Sink {
  readonly name: string;
  private readonly formatter: SyslogFormatter;
  private readonly socket: dgram.Socket;
  private readonly port: number;
  private readonly host: string;
  private sending = 0;
  private delivered = 0;
  private failed = 0;
  private lastError: string | undefined;
  private closed = false;
  private readonly waiters = new Waiters();

  constructor(options: SyslogSinkOptions) {
    this.host = options.host;
    this.port = options.port ?? DEFAULT_PORT.udp;
    this.name = `udp://${this.host}:${this.port}`;
    this.formatter = new SyslogFormatter(options);
    this.socket = dgram.createSocket(net.isIPv6(this.host) ? 'udp6' : 'udp4');
    this.socket.on('error', (e) => (this.lastError = e.message));
    this.socket.unref();
  }

  write(ev: AuditEvent): void {
    this.send(this.formatter.messages(ev));
  }

  writeAlert(alert: Alert): void {
    this.send([this.formatter.alertMessage(alert)]);
  }

  writeNotice(notice: LossNotice): void {
    this.send([this.formatter.lossMessage(notice)]);
  }

  private send(messages: string[]): void {
    if (this.closed) return void this.failed++;
    for (const m of messages) {
      const data = Buffer.from(m);
      if (data.length > UDP_MAX) {
        this.failed++;
        this.lastError = `a ${data.length}-byte message does not fit a UDP datagram: use tcp, tls or relp`;
        continue;
      }
      this.sending++;
      this.socket.send(data, this.port, this.host, (e) => {
        this.sending--;
        if (e) {
          this.failed++;
          this.lastError = e.message;
        } else this.delivered++;
        this.waiters.wake();
      });
    }
  }

  flush(timeoutMs?: number): Promise<boolean> {
    return this.waiters.wait(() => this.sending === 0, timeoutMs);
  }

  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    await this.flush(timeoutMs);
    this.closed = true;
    this.socket.close();
  }

  stats(): SinkStats {
    return {
      name: this.name,
      state: this.closed ? 'closed' : 'open',
      delivered: this.delivered,
      queued: this.sending,
      queuedBytes: 0,
      spoolDropped: 0,
      failed: this.failed,
      reconnects: 0,
      lastError: this.lastError,
    };
  }
}

class StreamSyslogSink implements Sink {
  readonly name: string;
  private readonly options: SyslogSinkOptions;
  private readonly formatter: SyslogFormatter;
  private readonly port: number;
  private readonly relp: boolean;
  private readonly secure: tls.ConnectionOptions | undefined;
  private readonly window: number;

  /** In order; the first `inflight` are on the wire. */
  private readonly spool: Spool;
  private inflight = 0;

  private socket: net.Socket | undefined;
  private state: SinkState = 'connecting';
  private sessionOpen = false;
  private writing = false;
  private txnr = 0;
  private parser = new RelpParser();
  private backoff: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private connections = 0;
  private closing = false;

  private delivered = 0;
  private failed = 0;
  private lastError: string | undefined;
  private readonly waiters = new Waiters();

  constructor(options: SyslogSinkOptions) {
    this.options = options;
    this.formatter = new SyslogFormatter(options);
    this.port = options.port ?? DEFAULT_PORT[options.transport];
    this.relp = options.transport === 'relp' || options.transport === 'relp+tls';
    this.name = `${options.transport}://${options.host}:${this.port}`;
    this.spool = openSpool(options.spoolDir, `${options.transport}-${options.host}-${this.port}`, options.spoolBytes);
    this.window = options.relpWindow ?? 128;
    this.backoff = options.reconnectMinMs ?? 250;
    if (options.transport === 'tls' || options.transport === 'relp+tls') {
      const t = options.tls ?? {};
      this.secure = {
        ca: readPem('CA', t.ca),
        cert: readPem('certificate', t.cert),
        key: readPem('key', t.key),
        servername: t.servername ?? (net.isIP(options.host) ? undefined : options.host),
        rejectUnauthorized: t.verify ?? true,
        // A receiver addressed by IP: check the certificate names that IP.
        checkServerIdentity: t.servername === undefined && net.isIP(options.host) ? (_host, cert) => tls.checkServerIdentity(options.host, cert) : undefined,
      };
    }
    this.connect();
  }

  get recovered(): SpoolRecovery | undefined {
    return recoveryOf(this.spool);
  }

  write(ev: AuditEvent): void {
    this.enqueue(this.formatter.messages(ev));
  }

  writeAlert(alert: Alert): void {
    this.enqueue([this.formatter.alertMessage(alert)]);
  }

  writeNotice(notice: LossNotice): void {
    this.enqueue([this.formatter.lossMessage(notice)]);
  }

  private enqueue(messages: string[]): void {
    if (this.closing) return void this.failed++;
    this.spool.pushAll(messages);
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
    const left = leftAtClose(this.spool, this.name);
    this.failed += left.lost;
    this.lastError = left.message ?? this.lastError;
    const socket = this.socket;
    if (socket && this.relp && this.sessionOpen) {
      // A clean RELP close: the server answers, then both sides hang up.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        socket.once('close', () => (clearTimeout(t), resolve()));
        socket.write(encodeRelpFrame(this.nextTxnr(), 'close'));
      });
    }
    socket?.destroy();
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
      reconnects: Math.max(0, this.connections - 1),
      lastError: this.state === 'closed' ? this.lastError : (this.spool.lastError ?? (this.state === 'connected' ? undefined : this.lastError)),
    };
  }

  private nextTxnr(): number {
    // RELP transaction numbers run 1…999999999 and wrap to 1.
    this.txnr = this.txnr >= 999_999_999 ? 1 : this.txnr + 1;
    return this.txnr;
  }

  private connect(): void {
    if (this.closing) return;
    this.state = 'connecting';
    this.sessionOpen = false;
    this.parser = new RelpParser();
    this.txnr = 0;
    const { host } = this.options;
    const socket = this.secure ? tls.connect({ host, port: this.port, ...this.secure }) : net.connect({ host, port: this.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.once(this.secure ? 'secureConnect' : 'connect', () => {
      this.connections++;
      this.backoff = this.options.reconnectMinMs ?? 250;
      if (this.relp) socket.write(encodeRelpFrame(this.nextTxnr(), 'open', OPEN_OFFERS));
      else {
        this.state = 'connected';
        this.sessionOpen = true;
        this.lastError = undefined;
        this.pump();
      }
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.writing = false;
      this.pump();
    });
    socket.on('error', (e) => (this.lastError = `${this.name}: ${e.message}`));
    socket.on('close', () => this.onClose(socket));
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.sessionOpen = false;
    this.writing = false;
    // What was on the wire and not confirmed goes again on the next connection.
    for (let i = 0; i < this.inflight; i++) this.spool.at(i).txnr = 0;
    this.inflight = 0;
    if (this.closing) return;
    this.state = 'down';
    this.lastError ??= `${this.name}: connection closed`;
    this.retryTimer = setTimeout(() => this.connect(), this.backoff);
    this.retryTimer.unref();
    this.backoff = Math.min(this.backoff * 2, this.options.reconnectMaxMs ?? 30_000);
  }

  private onData(chunk: Buffer): void {
    if (!this.relp) return; // a syslog TCP receiver says nothing
    let frames;
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      this.lastError = `${this.name}: ${(e as Error).message}`;
      this.socket?.destroy();
      return;
    }
    for (const f of frames) {
      if (f.command === 'serverclose') {
        this.socket?.destroy();
        return;
      }
      if (f.command !== 'rsp') continue;
      const code = responseCode(f.data);
      if (!this.sessionOpen) {
        if (code !== 200) {
          this.lastError = `${this.name}: the RELP server refused the session: ${f.data.toString('utf8').split('\n')[0]}`;
          this.socket?.destroy();
          return;
        }
        this.sessionOpen = true;
        this.state = 'connected';
        this.lastError = undefined;
        continue;
      }
      this.acknowledge(f.txnr, code, f.data);
    }
    this.pump();
  }

  private acknowledge(txnr: number, code: number, data: Buffer): void {
    for (let i = 0; i < this.inflight; i++) {
      const item = this.spool.at(i);
      if (item.txnr !== txnr || item.done) continue;
      item.done = true;
      if (code === 200) this.delivered++;
      else {
        this.failed++;
        this.lastError = `${this.name} refused a message: ${data.toString('utf8').split('\n')[0]}`;
      }
      break;
    }
    // Answers normally come in order; release the confirmed prefix.
    let n = 0;
    while (n < this.inflight && this.spool.at(n).done) n++;
    this.release(n);
  }

  /** Drop `n` confirmed items from the head of the spool. */
  private release(n: number): void {
    if (n === 0) return;
    this.spool.release(n);
    this.inflight -= n;
    this.waiters.wake();
  }

  private pump(): void {
    const socket = this.socket;
    if (!socket || !this.sessionOpen || this.writing) return;
    if (this.relp) {
      let frames = '';
      const available = this.spool.available();
      while (this.inflight < this.window && this.inflight < available) {
        const item = this.spool.at(this.inflight);
        item.txnr = this.nextTxnr();
        frames += `${item.txnr} syslog ${item.bytes} ${item.text}\n`;
        this.inflight++;
      }
      if (frames !== '' && !socket.write(frames)) this.writing = true;
      return;
    }
    const start = this.inflight;
    const available = this.spool.available();
    if (start >= available) return;
    // Octet counting (RFC 6587 3.4.1): a message may hold any byte, newlines included.
    let batch = '';
    let bytes = 0;
    let n = 0;
    while (start + n < available && bytes < WRITE_BATCH) {
      const item = this.spool.at(start + n);
      batch += `${item.bytes} ${item.text}`;
      bytes += item.bytes;
      n++;
    }
    this.inflight += n;
    const ok = socket.write(batch, (e) => {
      // Handed to the kernel: as far as TCP lets a sender know, delivered.
      if (e || socket !== this.socket) return;
      // Batches complete in order: this one is the spool's head now.
      this.delivered += n;
      this.release(n);
      this.pump();
    });
    if (!ok) this.writing = true;
  }
}
