// A real rsyslogd on loopback, started by a test with a config the test
// writes: TCP, TLS (certificates made here with openssl), RELP and UDP inputs,
// every message written to one file as "MSGID STRUCTURED-DATA MSG".
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, stopChild } from './daemon.js';

export interface Ports {
  tcp: number;
  tls: number;
  relp: number;
  udp: number;
}

/** A CA and a server certificate for 127.0.0.1, made with openssl. */
export function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=linux-audit test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
}

export class Rsyslog {
  readonly dir: string;
  readonly out: string;
  readonly ca: string;
  ports!: Ports;
  private child: ChildProcess | undefined;
  /**
   * Lines rsyslog was killed in the middle of writing (omfile writes in
   * blocks, so a SIGKILL can leave half a line), by their index among the
   * file's lines: ended by us so that what it writes after a restart starts a
   * line of its own, and left out of lines().
   */
  private readonly cut = new Set<number>();

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-rsyslog-'));
    this.out = path.join(this.dir, 'out.log');
    this.ca = path.join(this.dir, 'ca.pem');
    makeCertificates(this.dir);
  }

  /** Start it, unless it is running. */
  async start(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return;
    this.ports ??= { tcp: await freePort(), tls: await freePort(), relp: await freePort(), udp: await freePort() };
    const d = this.dir;
    const conf = path.join(d, 'rsyslog.conf');
    fs.writeFileSync(
      conf,
      `global(workDirectory="${d}" defaultNetstreamDriverCAFile="${d}/ca.pem" defaultNetstreamDriverCertFile="${d}/server.pem" defaultNetstreamDriverKeyFile="${d}/server-key.pem" maxMessageSize="256k")
module(load="imtcp")
module(load="imudp")
module(load="imrelp")
template(name="parts" type="string" string="%syslogseverity-text% %msgid% %structured-data% %msg%\\n")
ruleset(name="out") { action(type="omfile" file="${this.out}" template="parts" flushOnTXEnd="on") }
input(type="imtcp" port="${this.ports.tcp}" address="127.0.0.1" ruleset="out")
input(type="imtcp" port="${this.ports.tls}" address="127.0.0.1" ruleset="out" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imrelp" port="${this.ports.relp}" address="127.0.0.1" ruleset="out" maxDataSize="256k")
input(type="imudp" port="${this.ports.udp}" address="127.0.0.1" ruleset="out")
`,
    );
    const pidFile = path.join(d, 'rsyslogd.pid');
    fs.rmSync(pidFile, { force: true });
    this.child = spawn('rsyslogd', ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    this.child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    // Ready when every TCP port accepts.
    const end = Date.now() + 10_000;
    for (const port of [this.ports.tcp, this.ports.tls, this.ports.relp]) {
      for (;;) {
        if (await canConnect(port)) break;
        if (Date.now() > end || this.child.exitCode !== null) throw new Error(`rsyslogd did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Stop it: SIGTERM (it closes its connections) or SIGKILL (a crash). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await stopChild(this.child, signal);
    this.child = undefined;
    if (!fs.existsSync(this.out)) return;
    const text = fs.readFileSync(this.out, 'utf8');
    if (text === '' || text.endsWith('\n')) return;
    this.cut.add(text.split('\n').length - 1);
    fs.appendFileSync(this.out, '\n');
  }

  /** How many lines rsyslog was killed in the middle of (left out of lines()). */
  get linesCut(): number {
    return this.cut.size;
  }

  /** The lines written so far: the severity rsyslog read from PRI, MSGID, STRUCTURED-DATA and MSG of each message. */
  lines(): Array<{ severity: string; msgid: string; sd: string; msg: string }> {
    if (!fs.existsSync(this.out)) return [];
    const text = fs.readFileSync(this.out, 'utf8');
    // rsyslog may be writing a line as we read: only whole lines count.
    return text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l, i) => l !== '' && !this.cut.has(i))
      .map((line) => {
        const space = line.indexOf(' ');
        const severity = line.slice(0, space);
        const l = line.slice(space + 1);
        const first = l.indexOf(' ');
        const msgid = l.slice(0, first);
        let rest = l.slice(first + 1);
        let sd = '-';
        if (rest.startsWith('[')) {
          // The SD ends at the first "]" not escaped and not inside quotes.
          let i = 0;
          let quoted = false;
          for (; i < rest.length; i++) {
            if (rest[i] === '\\') i++;
            else if (rest[i] === '"') quoted = !quoted;
            else if (rest[i] === ']' && !quoted && rest[i + 1] !== '[') break;
          }
          sd = rest.slice(0, i + 1);
          rest = rest.slice(i + 2);
        } else rest = rest.slice(2);
        return { severity, msgid, sd, msg: rest.trimStart() };
      });
  }

  async cleanup(): Promise<void> {
    await this.stop('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
