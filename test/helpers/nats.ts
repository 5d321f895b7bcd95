// A real nats-server with JetStream on loopback, its store in a temporary
// directory that outlives a restart (a restart must lose nothing stored).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { makeCertificates } from './rsyslog.js';
import { tempDir } from './temp.js';
import { freePort, stopChild } from './daemon.js';

export class NatsServer {
  readonly dir = tempDir('linux-audit-nats-');
  port = 0;
  private child: ChildProcess | undefined;
  private log = '';

  /** With `tls`, clients must speak TLS, with a certificate for 127.0.0.1 signed by `ca`. */
  constructor(private readonly tls = false) {
    if (tls) makeCertificates(this.dir);
  }

  get url(): string {
    return `${this.tls ? 'tls+nats' : 'nats'}://127.0.0.1:${this.port}`;
  }

  /** The CA that signed the server's certificate (with `tls`). */
  get ca(): string {
    return path.join(this.dir, 'ca.pem');
  }

  private clientOptions(): { servers: string; tls?: { caFile: string } } {
    return { servers: `127.0.0.1:${this.port}`, ...(this.tls && { tls: { caFile: this.ca } }) };
  }

  /** Start it (the same port and store each time), ready when JetStream answers. */
  async start(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return;
    this.port ||= await freePort();
    const tls = this.tls ? ['--tls', '--tlscert', path.join(this.dir, 'server.pem'), '--tlskey', path.join(this.dir, 'server-key.pem')] : [];
    this.child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', path.join(this.dir, 'store'), '--server_name', 'la-test', ...tls], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (b: Buffer) => (this.log += b.toString()));
    const end = Date.now() + 15_000;
    for (;;) {
      if (this.log.includes('Server is ready')) return;
      if (Date.now() > end || this.child.exitCode !== null) throw new Error(`nats-server did not start: ${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stop it: SIGTERM (a clean shutdown) or SIGKILL (a crash). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await stopChild(this.child, signal);
    this.child = undefined;
    this.log = '';
  }

  /** Every message stored in a stream: subject and payload, in stream order. */
  async messages(stream: string): Promise<Array<{ subject: string; data: string; seq: number }>> {
    const nc: NatsConnection = await connect(this.clientOptions());
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(stream);
      const out: Array<{ subject: string; data: string; seq: number }> = [];
      if (info.state.messages === 0) return out;
      const consumer = await jetstream(nc).consumers.get(stream);
      const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 5000 });
      for await (const m of batch) {
        out.push({ subject: m.subject, data: m.string(), seq: m.seq });
        if (out.length >= info.state.messages) break;
      }
      return out;
    } finally {
      await nc.close();
    }
  }

  async cleanup(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
