// Sinks without the kernel: RELP framing, RFC 5424 messages, sink URLs and the
// config file, file rotation, and the stream sink against small local servers
// (the live tests use a real rsyslog).
import { tempDir } from './helpers/temp.js';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../lib/assemble/event.js';
import { checkConfig, ConfigError } from '../lib/config/index.js';
import { readAuditLog } from '../lib/logfile/read.js';
import { FileSink, StdoutSink, createSyslogSink, parseSinkUrl, SinkSpecError, SyslogFormatter } from '../lib/sinks/index.js';
import { RelpParser, encodeRelpFrame } from '../lib/sinks/relp.js';
import { LossWatch, lossCounts, lossText, type LossNotice } from '../lib/sinks/loss.js';
import type { SubscriptionStats } from '../lib/subscribe/subscription.js';
import { corpusPath } from './helpers/corpus.js';

async function events(lines: string[]): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const ev of readAuditLog([lines.join('\n') + '\n'])) out.push(ev);
  return out;
}

const OK_SYSCALL = [
  'type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=4242 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="id" exe="/usr/bin/id" key=615D625C2263',
  'type=EXECVE msg=audit(1700000000.123:42): argc=1 a0="id"',
];
const FAILED_OPEN =
  'type=SYSCALL msg=audit(1700000001.000:43): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7ffd a2=0 a3=0 items=1 ppid=1 pid=4243 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" key=(null)';

describe('RELP frames', () => {
  it('parses frames however the stream is cut', () => {
    const stream = Buffer.concat([
      encodeRelpFrame(1, 'rsp', '200 OK\nrelp_version=0\ncommands=syslog'),
      encodeRelpFrame(2, 'rsp', '200 OK'),
      encodeRelpFrame(0, 'serverclose'),
      encodeRelpFrame(3, 'rsp', Buffer.from('500 no\n\x00\xff', 'latin1')),
    ]);
    const whole = new RelpParser().push(stream);
    expect(whole.map((f) => [f.txnr, f.command, f.data.toString('latin1')])).toEqual([
      [1, 'rsp', '200 OK\nrelp_version=0\ncommands=syslog'],
      [2, 'rsp', '200 OK'],
      [0, 'serverclose', ''],
      [3, 'rsp', '500 no\n\x00\xff'],
    ]);
    for (let cut = 1; cut < stream.length; cut++) {
      const p = new RelpParser();
      const frames = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))];
      expect(frames, `cut at ${cut}`).toEqual(whole);
    }
  });

  it('refuses bytes that are not RELP', () => {
    expect(() => new RelpParser().push(Buffer.from('HTTP/1.1 400 Bad Request\r\n'.repeat(4)))).toThrow(/not a RELP frame/);
    expect(() => new RelpParser().push(Buffer.from('1 rsp 2 okX'))).toThrow(/does not end with LF/);
  });
});

describe('RFC 5424 messages', () => {
  it('header, structured data with escapes, JSON body; failures get their own severity', async () => {
    const [ok, failed] = await events([...OK_SYSCALL, FAILED_OPEN]);
    const f = new SyslogFormatter({ hostname: 'host one', facility: 'authpriv', severity: 'info', failureSeverity: 'warning' });
    const [m] = f.messages(ok);
    // authpriv (10) * 8 + info (6) = 86; the space in the host name is not allowed in the header.
    const head = `<86>1 2023-11-14T22:13:20.123Z host_one linux-audit ${process.pid} SYSCALL `;
    expect(m.startsWith(head)).toBe(true);
    const rest = m.slice(head.length);
    expect(rest.startsWith('[linux-audit@32473 serial="42" type="SYSCALL" key="a\\]b\\\\\\"c" result="success" pid="4242"] {')).toBe(true);
    expect(JSON.parse(rest.slice(rest.indexOf('] {') + 2))).toEqual(JSON.parse(JSON.stringify(ok)));
    expect(f.messages(failed)[0].startsWith('<84>1 ')).toBe(true);
    const plain = new SyslogFormatter({ structuredData: false }).messages(ok)[0];
    expect(plain).toMatch(/^<14>1 \S+ \S+ linux-audit \d+ SYSCALL - \{/);
  });

  it('a key with a newline and an escape sequence cannot end the message or reach a terminal (found by the property tests)', async () => {
    const key = Buffer.from('a\nb\x1b[2Jc').toString('hex').toUpperCase();
    const [ev] = await events([`type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=59 success=yes exit=0 pid=4242 comm="x" exe="/bin/x" key=${key}`]);
    const [m] = new SyslogFormatter({ hostname: 'h' }).messages(ev);
    expect(m).not.toMatch(/[\n\x1b]/);
    expect(m).toContain(' key="a\\nb\\x1b[2Jc" ');
  });

  it('raw payload: one message per record, the audit.log line', async () => {
    const [ok] = await events(OK_SYSCALL);
    const msgs = new SyslogFormatter({ payload: 'raw', hostname: 'h' }).messages(ok);
    expect(msgs).toHaveLength(2);
    expect(msgs[0].endsWith(` SYSCALL - ${OK_SYSCALL[0]}`)).toBe(true);
    expect(msgs[1].endsWith(` EXECVE - ${OK_SYSCALL[1]}`)).toBe(true);
  });
});

describe('sink URLs and the config file', () => {
  it('reads the forms an operator types', () => {
    expect(parseSinkUrl('relp://logs.example:2514')).toMatchObject({ type: 'syslog', transport: 'relp', host: 'logs.example', port: 2514 });
    expect(parseSinkUrl('tls://10.0.0.5?ca=/etc/ca.pem&verify=no&spool=1M')).toMatchObject({ transport: 'tls', host: '10.0.0.5', port: undefined, spoolBytes: 1048576, tls: { ca: '/etc/ca.pem', verify: false } });
    expect(parseSinkUrl('udp://[::1]:514?facility=local6&payload=raw')).toMatchObject({ transport: 'udp', host: '::1', facility: 'local6', payload: 'raw' });
    expect(parseSinkUrl('file:/var/log/la/audit.log?max=8M&num=3&format=json')).toEqual({ type: 'file', path: '/var/log/la/audit.log', format: 'json', maxBytes: 8 * 1024 * 1024, numLogs: 3 });
    expect(parseSinkUrl('stdout:text')).toEqual({ type: 'stdout', format: 'text' });
    expect(parseSinkUrl('relp://logs:2514?spool=disk:/var/lib/linux-audit/spool?max=1G&payload=raw')).toMatchObject({ spoolDir: '/var/lib/linux-audit/spool', spoolBytes: 1024 ** 3, payload: 'raw' });
    expect(parseSinkUrl('tcp://logs?spool=disk:/s')).toMatchObject({ spoolDir: '/s', spoolBytes: undefined });
    expect(parseSinkUrl('nats://u:p%40ss@bus:4333?stream=AUDIT&by=container&subject=audit.prod&spool=disk:/s')).toEqual({
      type: 'nats',
      server: 'bus:4333',
      user: 'u',
      password: 'p@ss',
      subject: 'audit.prod',
      subjectBy: 'container',
      stream: 'AUDIT',
      format: undefined,
      records: undefined,
      spoolDir: '/s',
      spoolBytes: undefined,
      tls: undefined,
    });
    expect(parseSinkUrl('tls+nats://bus?ca=/ca.pem')).toMatchObject({ server: 'bus:4222', tls: { ca: '/ca.pem' } });
  });

  it.each([
    ['logs:514', /unknown scheme "logs"/],
    ['http://x', /unknown scheme "http"/],
    ['tcp://x?ca=/a.pem', /TLS parameters need tls:\/\/ or relp\+tls:\/\//],
    ['tcp://x?colour=red', /unknown parameter "colour"/],
    ['relp://x?spool=lots', /spool: "lots" is not a size/],
    ['udp://x?facility=kernel', /facility must be one of kern, user/],
    ['stdout:xml', /stdout formats are json, text, raw/],
    ['not a url', /not a sink/],
    ['udp://x?spool=disk:/s', /a disk spool needs tcp, tls, relp or relp\+tls/],
    ['nats://bus?by=pod', /by must be key, container or none, not "pod"/],
    ['nats://bus?ca=/ca.pem', /TLS parameters need tls\+nats:\/\//],
    ['nats://bus?topic=x', /unknown parameter "topic"; known: subject, by, stream/],
    ['relp://x?spool=disk:spool', /spool=disk: wants an absolute directory/],
    ['relp://x?spool=disk:/s?size=1G', /unknown disk spool parameter "size"; known: max/],
  ])('%s is refused with what would do', (url, message) => {
    expect(() => parseSinkUrl(url)).toThrow(SinkSpecError);
    expect(() => parseSinkUrl(url)).toThrow(message);
  });

  it('checks a config key by key and names the bad one', () => {
    const good = checkConfig({ mode: 'unicast', presets: ['docker'], filter: { keys: ['exec'], success: false }, sinks: ['relp://logs:2514', { type: 'file', path: '/var/log/x.log', numLogs: 3 }] });
    expect(good).toMatchObject({ mode: 'unicast', presets: ['docker'], healthSeconds: 60, sinks: [{ transport: 'relp', host: 'logs' }, { type: 'file', numLogs: 3 }] });
    const cases: Array<[unknown, RegExp]> = [
      [{ mdoe: 'unicast' }, /^config\.mdoe: unknown key; known keys here: mode, rules/],
      [{ mode: 'broadcast' }, /^config\.mode: expected one of unicast, multicast, auto, got "broadcast"$/],
      [{ presets: ['dockr'] }, /^config\.presets\[0\]: expected one of docker, /],
      [{ sinks: [{ type: 'syslog', transport: 'tcp', host: 'x', prot: 1 }] }, /^config\.sinks\[0\]\.prot: unknown key/],
      [{ sinks: [{ type: 'syslog', transport: 'tcp' }] }, /^config\.sinks\[0\]\.host: missing$/],
      [{ sinks: [{ type: 'syslog', transport: 'tcp', host: 'x', port: 70000 }] }, /^config\.sinks\[0\]\.port: expected a whole number from 1 to 65535, got 70000$/],
      [{ sinks: ['tcp://x?colour=red'] }, /^config\.sinks\[0\]: tcp:\/\/x\?colour=red: unknown parameter "colour"/],
      [{ sinks: [{ type: 'kafka' }] }, /^config\.sinks\[0\]\.type: expected syslog, file, stdout or nats/],
      [{ filter: { success: 'no' } }, /^config\.filter\.success: expected true or false, got "no"$/],
      [[], /^config: expected an object/],
    ];
    for (const [json, message] of cases) {
      expect(() => checkConfig(json), JSON.stringify(json)).toThrow(ConfigError);
      expect(() => checkConfig(json), JSON.stringify(json)).toThrow(message);
    }
  });
});

describe('file sink', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('rotates by size like auditd (FILE, FILE.1 … FILE.N-1), files 0600, order kept', async () => {
    dir = tempDir('linux-audit-file-');
    const file = path.join(dir, 'audit.log');
    const evs: AuditEvent[] = [];
    for await (const ev of readAuditLog(fs.createReadStream(corpusPath('go-libaudit/auparse/audit-rhel7.log')))) evs.push(ev);
    const sink = new FileSink({ path: file, maxBytes: 4096, numLogs: 3 });
    let expected = '';
    for (let round = 0; round < 5; round++) {
      for (const ev of evs) {
        sink.write(ev);
        // A line that is not a record (the corpus has `type=UNKNOWN[1329] msg=?`) is written back as read.
        expected += ev.records.map((r) => r.line ?? `type=${r.typeName} msg=${r.text}`).join('\n') + '\n';
      }
    }
    expect(await sink.flush(5000)).toBe(true);
    await sink.close();
    expect(fs.readdirSync(dir).sort()).toEqual(['audit.log', 'audit.log.1', 'audit.log.2']);
    for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).mode & 0o777, f).toBe(0o600);
    const kept = ['audit.log.2', 'audit.log.1', 'audit.log'].map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');
    expect(expected.endsWith(kept)).toBe(true);
    expect(fs.statSync(path.join(dir, 'audit.log.1')).size).toBeGreaterThanOrEqual(4096);
    expect(sink.stats()).toMatchObject({ delivered: evs.length * 5, failed: 0 });
  });

  it('makes an existing world-readable file private, and says what to do when it cannot open', async () => {
    dir = tempDir('linux-audit-file-');
    const file = path.join(dir, 'open.log');
    fs.writeFileSync(file, '', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const sink = new FileSink({ path: file });
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
    await sink.close();
    expect(() => new FileSink({ path: path.join(dir, 'no', 'such', 'x.log') })).toThrow(/its directory does not exist; create it/);
  });

  it('a file an earlier run was killed in the middle of writing: its cut line is ended, not joined to the next', async () => {
    dir = tempDir('linux-audit-file-');
    const file = path.join(dir, 'cut.json');
    fs.writeFileSync(file, '{"serial":1}\n{"serial":2,"ke');
    const sink = new FileSink({ path: file, format: 'json' });
    const [ev] = await events(OK_SYSCALL);
    sink.write(ev);
    sink.write(ev);
    expect(await sink.flush(5000)).toBe(true);
    await sink.close();
    expect(fs.readFileSync(file, 'utf8').split('\n')).toEqual(['{"serial":1}', '{"serial":2,"ke', JSON.stringify(ev), JSON.stringify(ev), '']);
    expect(sink.stats()).toMatchObject({ delivered: 2, failed: 0 });
  });
});

describe('sinks never hold more than their bound', () => {
  it('stdout: a reader slower than the events leaves at most spoolBytes buffered; the rest is counted', async () => {
    // A pipe nobody reads: writes stay in the stream's buffer.
    const { PassThrough } = await import('node:stream');
    const pipe = new PassThrough({ highWaterMark: 1024 });
    const sink = new StdoutSink({ format: 'json', stream: pipe as unknown as NodeJS.WriteStream, spoolBytes: 256 * 1024 });
    const [ev] = await events(OK_SYSCALL);
    for (let i = 0; i < 100_000; i++) sink.write(ev);
    const s = sink.stats();
    expect(s.queuedBytes).toBeLessThanOrEqual(256 * 1024);
    expect(s.spoolDropped).toBeGreaterThan(90_000);
    expect(s.queued + s.spoolDropped).toBe(100_000);
    pipe.resume();
    expect(await sink.flush(5000)).toBe(true);
    expect(sink.stats()).toMatchObject({ delivered: s.queued, spoolDropped: s.spoolDropped, failed: 0 });
  });

  it('file: a disk slower than the events leaves at most spoolBytes queued; the rest is counted', async () => {
    const dir = tempDir('linux-audit-file-');
    try {
      const sink = new FileSink({ path: path.join(dir, 'audit.log'), spoolBytes: 64 * 1024 });
      const [ev] = await events(OK_SYSCALL);
      // All written in one turn of the event loop: nothing reaches the disk meanwhile.
      for (let i = 0; i < 10_000; i++) sink.write(ev);
      const s = sink.stats();
      expect(s.queuedBytes).toBeLessThanOrEqual(64 * 1024);
      expect(s.queued + s.spoolDropped).toBe(10_000);
      expect(s.spoolDropped).toBeGreaterThan(9_000);
      expect(await sink.flush(5000)).toBe(true);
      await sink.close();
      expect(sink.stats()).toMatchObject({ delivered: s.queued, failed: 0 });
      expect(fs.readFileSync(path.join(dir, 'audit.log'), 'utf8').split('\n').filter(Boolean).length).toBe(s.queued * 2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the bound is set from the URL and the config file', () => {
    expect(parseSinkUrl('stdout:raw?spool=1M')).toEqual({ type: 'stdout', format: 'raw', spoolBytes: 1 << 20 });
    expect(parseSinkUrl('file:/var/log/a.log?spool=2M')).toMatchObject({ type: 'file', spoolBytes: 2 << 20 });
    expect(() => parseSinkUrl('stdout:json?max=1')).toThrow(/unknown parameter "max"; known: spool/);
    expect(checkConfig({ sinks: [{ type: 'stdout', spoolBytes: 4096 }] }).sinks?.[0]).toMatchObject({ spoolBytes: 4096 });
  });
});

describe('stream sink against local servers', () => {
  const servers: net.Server[] = [];
  afterEach(() => servers.splice(0).forEach((s) => s.close()));

  async function listen(onConnection: (s: net.Socket) => void): Promise<number> {
    const server = net.createServer(onConnection);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as net.AddressInfo).port;
  }

  it('tcp: octet counting keeps a message with newlines whole', async () => {
    let received = Buffer.alloc(0);
    const port = await listen((s) => s.on('data', (d: Buffer) => (received = Buffer.concat([received, d]))));
    const [ev] = await events([OK_SYSCALL[0].replace('key=615D625C2263', 'key=6C696E65310A6C696E6532')]);
    const sink = createSyslogSink({ transport: 'tcp', host: '127.0.0.1', port, hostname: 'h' });
    sink.write(ev);
    sink.write(ev);
    expect(await sink.flush(5000)).toBe(true);
    await sink.close();
    await new Promise((r) => setTimeout(r, 50));
    const messages: string[] = [];
    let text = received.toString('utf8');
    while (text.length > 0) {
      const sp = text.indexOf(' ');
      const len = Number(text.slice(0, sp));
      messages.push(Buffer.from(text.slice(sp + 1)).subarray(0, len).toString('utf8'));
      text = Buffer.from(text.slice(sp + 1)).subarray(len).toString('utf8');
    }
    expect(messages).toHaveLength(2);
    expect(JSON.parse(messages[0].slice(messages[0].indexOf('] {') + 2)).keys).toEqual(['line1\nline2']);
  });

  it('relp: answered in any order, a refusal counted as failed, the session closed cleanly', async () => {
    const commands: string[] = [];
    const port = await listen((s) => {
      const p = new RelpParser();
      const held: number[] = [];
      s.on('data', (d: Buffer) => {
        for (const f of p.push(d)) {
          commands.push(f.command);
          if (f.command === 'open') s.write(encodeRelpFrame(f.txnr, 'rsp', '200 OK\nrelp_version=0\ncommands=syslog'));
          else if (f.command === 'close') {
            s.write(encodeRelpFrame(f.txnr, 'rsp'));
            s.end();
          } else if (f.command === 'syslog') {
            held.push(f.txnr);
            // Answer three at a time, the last first; refuse the second message.
            if (held.length === 3) for (const t of held.splice(0).reverse()) s.write(encodeRelpFrame(t, 'rsp', t === 3 ? '500 no room' : '200 OK'));
          }
        }
      });
    });
    const evs = await events([...OK_SYSCALL, FAILED_OPEN, OK_SYSCALL[0].replace(':42', ':44')]);
    expect(evs).toHaveLength(3);
    const sink = createSyslogSink({ transport: 'relp', host: '127.0.0.1', port });
    for (const ev of evs) sink.write(ev);
    expect(await sink.flush(5000)).toBe(true);
    expect(sink.stats()).toMatchObject({ state: 'connected', delivered: 2, failed: 1, queued: 0 });
    expect(sink.stats().lastError).toBeUndefined();
    await sink.close();
    expect(commands).toEqual(['open', 'syslog', 'syslog', 'syslog', 'close']);
  });
});

describe('loss notices', () => {
  const stats = (over: Partial<SubscriptionStats>): SubscriptionStats =>
    ({ mode: 'unicast', receiving: true, records: 0, events: 0, filtered: 0, bytes: 0, malformed: 0, kernelLost: 0, kernelCounters: true, socketOverruns: 0, dropped: 0, spoofed: 0, truncated: 0, undelivered: 0, incomplete: 0, recordsCut: 0, containerUnknown: 0, cgroupReads: 0, serialGaps: 0, queueDepth: 0, inFlight: 0, pendingBytes: 0, peakPendingBytes: 0, kernelBacklog: 0, ...over }) as SubscriptionStats;
  const sink = (name: string, spoolDropped: number, failed = 0) => ({ name, state: 'connected' as const, delivered: 0, queued: 0, queuedBytes: 0, spoolDropped, failed, reconnects: 0, lastError: undefined });

  it('one notice when a counter moves, with only what moved in the interval; none when nothing did', () => {
    let now = lossCounts(stats({}), [sink('relp://a:1', 0)]);
    const got: LossNotice[] = [];
    const w = new LossWatch(() => now, (n) => got.push(n), 3_600_000);
    expect(w.check()).toBeUndefined();
    now = lossCounts(stats({ kernelLost: 5, socketOverruns: 2 }), [sink('relp://a:1', 7)]);
    w.check();
    now = lossCounts(stats({ kernelLost: 9, socketOverruns: 2 }), [sink('relp://a:1', 7)]);
    w.stop();
    expect(got.map((n) => n.lost)).toEqual([{ kernel: 5, socketOverruns: 2, sinks: { 'relp://a:1': { spoolDropped: 7, failed: 0 } } }, { kernel: 4 }]);
    expect(got[1].total).toMatchObject({ kernel: 9, socketOverruns: 2 });
    expect(got[1].since).toBe(got[0].time);
    expect(lossText(got[0].lost)).toBe('kernel 5, socket overruns 2, relp://a:1 spool-dropped 7');
  });

  it('what the rate limit held back rides along, per key, though it is not loss', () => {
    const held = new Map<string, number>();
    const got: LossNotice[] = [];
    const w = new LossWatch(() => lossCounts(stats({}), [], held), (n) => got.push(n), 3_600_000);
    held.set('exec', 40);
    w.check();
    held.set('exec', 45).set('files', 2);
    w.stop();
    expect(got.map((n) => n.lost)).toEqual([{ suppressed: { exec: 40 } }, { suppressed: { exec: 5, files: 2 } }]);
    expect(lossText(got[1].lost)).toBe('rate limit held back 5 of key exec, rate limit held back 2 of key files');
    expect(new SyslogFormatter({ hostname: 'h' }).lossMessage(got[1])).toContain('[linux-audit-loss@32473 suppressed="7"]');
  });

  it('as syslog: severity warning, MSGID LOSS, the counters in structured data, JSON with type LOSS', () => {
    const n: LossNotice = { time: Date.UTC(2026, 10, 29), since: Date.UTC(2026, 10, 28), host: 'h1', lost: { dropped: 3, sinks: { 'tcp://b:2': { spoolDropped: 0, failed: 1 } } }, total: lossCounts(stats({ dropped: 3 }), [sink('tcp://b:2', 0, 1)]) };
    const m = new SyslogFormatter({ hostname: 'h1' }).lossMessage(n);
    expect(m.startsWith(`<12>1 2026-11-29T00:00:00.000Z h1 linux-audit ${process.pid} LOSS [linux-audit-loss@32473 dropped="3" sinks="tcp://b:2"] {`)).toBe(true);
    const json = JSON.parse(m.slice(m.indexOf('{')));
    expect(json).toMatchObject({ type: 'LOSS', host: 'h1', since: '2026-11-28T00:00:00.000Z', lost: { dropped: 3 }, message: 'linux-audit lost data on h1 since 2026-11-28T00:00:00.000Z: dropped 3, tcp://b:2 failed 1' });
  });
});
