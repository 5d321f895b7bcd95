// forward against a real rsyslogd: every event the subscription produced
// arrives once over TCP, TLS and RELP, parses back to the same JSON, with the
// RFC 5424 header rsyslog read; and across a receiver restart nothing is lost.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { runningAgents } from '../../lib/cli/agents.js';
import { CliProcess, cli } from '../helpers/cli.js';
import { auditctl, describeLive, kernelSnapshot, restoreKernel, syscallGenerator, type KernelSnapshot } from '../helpers/live.js';
import { readJSONLines } from '../helpers/json-lines.js';
import { Rsyslog } from '../helpers/rsyslog.js';
import { AuditClient } from '../../lib/client/client.js';

interface EventJSON {
  serial: number;
  keys: string[];
  types: string[];
}

describeLive('forward to a real rsyslog', () => {
  let before: KernelSnapshot;
  let rsyslog: Rsyslog;
  let dir: string;
  let rules: string;

  beforeAll(async () => {
    before = await kernelSnapshot();
    auditctl('-D');
    rsyslog = new Rsyslog();
    await rsyslog.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-forward-'));
    rules = path.join(dir, 'fwd.rules');
    fs.writeFileSync(rules, '-a always,exit -F arch=b64 -S getppid -k fwd\n');
  });

  afterEach(async () => {
    await CliProcess.killAll();
    auditctl('-D');
    await restoreKernel(before);
    await rsyslog.start(); // a test that stopped it leaves it running again
  });

  afterAll(async () => {
    auditctl('-D');
    await restoreKernel(before);
    await rsyslog?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Forward with the sink under test and a local JSON file as the reference of what was produced. */
  async function forward(to: string, reference: string, extra: string[] = []): Promise<CliProcess> {
    const p = new CliProcess(['forward', '--to', to, '--to', `file:${reference}?format=json&max=0`, '--rules', rules, '--key', 'fwd', '--health', '0', ...extra]);
    await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
    return p;
  }

  async function stop(p: CliProcess): Promise<void> {
    p.child.kill('SIGTERM');
    expect(await p.exited, p.stderr).toBe(0);
    expect(auditctl('-l')).toBe('No rules\n');
  }


  /** rsyslog's lines for events with serials in `serials`. */
  function received(serials: Set<number>): Array<{ msgid: string; sd: string; msg: string; ev: EventJSON }> {
    return rsyslog
      .lines()
      .map((l) => ({ ...l, ev: JSON.parse(l.msg) as EventJSON }))
      .filter((l) => serials.has(l.ev.serial));
  }

  async function waitForLines(serials: Set<number>, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (new Set(received(serials).map((l) => l.ev.serial)).size < serials.size && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  }

  // UDP has no flow control: a burst can overflow the receiver's socket
  // buffer, so it gets a burst small enough to fit, and no promise beyond it.
  it.each([
    ['tcp', 300],
    ['tls', 300],
    ['relp', 300],
    ['udp', 20],
  ] as const)('%s: every event arrives exactly once, as the same JSON, with the syslog header rsyslog parsed', async (transport, count) => {
    const port = rsyslog.ports[transport];
    const to = transport === 'tls' ? `tls://127.0.0.1:${port}?ca=${rsyslog.ca}` : `${transport}://127.0.0.1:${port}`;
    const reference = path.join(dir, `${transport}.json`);
    const p = await forward(to, reference);
    execFileSync(syscallGenerator(), [String(count)]);
    await p.waitFor(() => fs.existsSync(reference) && readJSONLines<EventJSON>(reference).length >= count, `${count} events in the reference file`);
    await stop(p);
    expect(p.stderr).toMatch(new RegExp(`${transport}://127\\.0\\.0\\.1:${port} closed delivered \\d+ queued 0 spool-dropped 0 failed 0`));

    const produced = readJSONLines<EventJSON>(reference);
    const serials = new Set(produced.map((e) => e.serial));
    expect(serials.size).toBe(produced.length);
    await waitForLines(serials);
    const got = received(serials);
    expect(got.map((l) => l.ev.serial).sort()).toEqual([...serials].sort());
    const bySerial = new Map(produced.map((e) => [e.serial, e]));
    for (const l of got) {
      expect(l.ev).toEqual(bySerial.get(l.ev.serial));
      expect(l.msgid).toBe(l.ev.types[0]);
      expect(l.sd).toContain(`[linux-audit@32473 serial="${l.ev.serial}" type="${l.ev.types[0]}" key="fwd" result="success"`);
    }
  });

  it('relp: rsyslog killed and restarted mid-stream, nothing is lost (serials counted)', async () => {
    const reference = path.join(dir, 'relp-restart.json');
    const p = await forward(`relp://127.0.0.1:${rsyslog.ports.relp}?spool=16M`, reference);
    const gen = syscallGenerator();
    execFileSync(gen, ['200']);
    // A crash while forward is still sending the burst, then events while it is away.
    execFileSync(gen, ['2000']);
    await rsyslog.stop('SIGKILL');
    execFileSync(gen, ['300']);
    await new Promise((r) => setTimeout(r, 500));
    p.child.kill('SIGUSR1');
    await p.waitFor((x) => /relp:\/\/\S+ (down|connecting)/.test(x.stderr), 'the health line to show the receiver away');
    await rsyslog.start();
    execFileSync(gen, ['200']);
    await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 2700, '2,700 events in the reference file', 20_000);
    const produced = new Set(readJSONLines<EventJSON>(reference).map((e) => e.serial));
    await waitForLines(produced, 20_000);
    await stop(p);
    const counts = new Map<number, number>();
    for (const l of received(produced)) counts.set(l.ev.serial, (counts.get(l.ev.serial) ?? 0) + 1);
    const missing = [...produced].filter((s) => !counts.has(s));
    expect(missing).toEqual([]);
    // RELP resends what was not acknowledged: a message rsyslog wrote just
    // before it died may come twice (imrelp's documentation says so), never more
    // than one window's worth.
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    console.log(`relp restart: ${produced.size} events, ${missing.length} missing, ${duplicates} delivered twice, ${rsyslog.linesCut} lines rsyslog was killed writing`);
    expect(duplicates).toBeLessThanOrEqual(128);
    // The RELP sink's own line (the file sink's says the same words), after at least one reconnect.
    expect(p.stderr).toMatch(/relp:\/\/127\.0\.0\.1:\d+ closed delivered \d+ queued 0 spool-dropped 0 failed 0 reconnects [1-9]/);
  });

  it('tcp: rsyslog stopped and started, the spool holds the events meanwhile', async () => {
    const reference = path.join(dir, 'tcp-restart.json');
    const p = await forward(`tcp://127.0.0.1:${rsyslog.ports.tcp}`, reference, []);
    const gen = syscallGenerator();
    execFileSync(gen, ['100']);
    await p.waitFor(() => fs.existsSync(reference) && readJSONLines<EventJSON>(reference).length >= 100, 'the first events');
    await rsyslog.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    execFileSync(gen, ['500']);
    await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 600, 'events while the receiver is away');
    await rsyslog.start();
    const produced = new Set(readJSONLines<EventJSON>(reference).map((e) => e.serial));
    await waitForLines(produced, 20_000);
    await stop(p);
    const serials = received(produced).map((l) => l.ev.serial);
    expect(new Set(serials).size).toBe(produced.size);
    expect(serials.length).toBe(produced.size);
    // Every event handed to the kernel's socket, after a reconnect, none left or lost.
    // (What forward produced up to its exit, the last rule removal included.)
    const all = readJSONLines<EventJSON>(reference).length;
    expect(p.stderr).toMatch(new RegExp(`tcp://127\\.0\\.0\\.1:\\d+ closed delivered ${all} queued 0 spool-dropped 0 failed 0 reconnects [1-9]\\d*;`));
  });

  it('a full spool is counted and reported, never silent', async () => {
    const reference = path.join(dir, 'spool.json');
    // Nothing listens on this port: every message waits in a 4 KiB spool.
    await rsyslog.stop('SIGTERM');
    const p = await forward(`relp://127.0.0.1:${rsyslog.ports.relp}?spool=4K`, reference);
    execFileSync(syscallGenerator(), ['200']);
    await p.waitFor(() => fs.existsSync(reference) && readJSONLines<EventJSON>(reference).length >= 200, '200 events');
    p.child.kill('SIGUSR1');
    await p.waitFor((x) => /spool-dropped [1-9]\d*/.test(x.stderr), 'spool-dropped in the health line');
    const m = /queued (\d+) spool-dropped (\d+)/.exec(p.stderr)!;
    expect(Number(m[1]) + Number(m[2])).toBeGreaterThanOrEqual(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    // At close what was still queued is counted as failed.
    expect(p.stderr).toMatch(/closed delivered 0 queued \d+ spool-dropped [1-9]\d* failed [1-9]\d*/);
  }, 40_000);

  it('relp with a disk spool: rsyslog away, the agent SIGKILLed and started again, every event arrives', async () => {
    const spool = path.join(dir, 'disk-spool');
    const to = `relp://127.0.0.1:${rsyslog.ports.relp}?spool=disk:${spool}?max=64M`;
    const reference = path.join(dir, 'disk-1.json');
    const first = await forward(to, reference);
    const gen = syscallGenerator();
    execFileSync(gen, ['1000']);
    await rsyslog.stop('SIGKILL');
    execFileSync(gen, ['500']);
    await first.waitFor(() => fs.existsSync(reference) && readJSONLines<EventJSON>(reference).length >= 1500, '1,500 events in the reference file');
    // The relp sink is given each event before the file sink: all 1,500 are on disk now.
    first.child.kill('SIGKILL');
    await first.exited;
    runningAgents(); // removes the killed agent's status file, as `linux-audit status` would
    const produced = new Set(readJSONLines<EventJSON>(reference).map((e) => e.serial));
    const second = await forward(to, path.join(dir, 'disk-2.json'));
    // At least the 500 made while rsyslog was away wait on disk, and the agent says so.
    await second.waitFor((x) => x.stderr.includes('from an earlier run in the disk spool'), 'the line saying what the spool holds');
    const waiting = /relp:\/\/127\.0\.0\.1:\d+: (\d+) messages from an earlier run in the disk spool \S+, sent first\n/.exec(second.stderr);
    expect(Number(waiting?.[1])).toBeGreaterThanOrEqual(500);
    await rsyslog.start();
    await waitForLines(produced, 20_000);
    await stop(second);
    const counts = new Map<number, number>();
    for (const l of received(produced)) counts.set(l.ev.serial, (counts.get(l.ev.serial) ?? 0) + 1);
    expect([...produced].filter((s) => !counts.has(s))).toEqual([]);
    // Sent and not acknowledged when rsyslog or the agent died: sent again, at most a RELP window.
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    console.log(`disk spool across SIGKILL: ${produced.size} events, ${duplicates} delivered twice`);
    expect(duplicates).toBeLessThanOrEqual(128);
    expect(second.stderr).toMatch(/relp:\/\/127\.0\.0\.1:\d+ closed delivered \d+ queued 0 spool-dropped 0 failed 0/);
    const segments = fs.readdirSync(path.join(spool, fs.readdirSync(spool)[0]));
    expect(segments.filter((f) => f.endsWith('.seg'))).toHaveLength(1);
  }, 60_000);

  it('a disk spool on a full disk (a 256 KiB tmpfs): messages dropped and counted, the agent goes on', async () => {
    const mnt = path.join(dir, 'small');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    try {
      await rsyslog.stop('SIGTERM');
      const reference = path.join(dir, 'full-disk.json');
      const p = await forward(`relp://127.0.0.1:${rsyslog.ports.relp}?spool=disk:${mnt}`, reference);
      execFileSync(syscallGenerator(), ['2000']);
      await p.waitFor(() => fs.existsSync(reference) && readJSONLines<EventJSON>(reference).length >= 2000, '2,000 events');
      p.child.kill('SIGUSR1');
      await p.waitFor((x) => /spool-dropped [1-9]\d*/.test(x.stderr), 'spool-dropped in the health line');
      expect(p.stderr).toMatch(/could not be written \(ENOSPC\): messages dropped and counted/);
      const m = /queued (\d+) spool-dropped (\d+)/.exec(p.stderr)!;
      expect(Number(m[1])).toBeGreaterThan(0);
      expect(Number(m[1]) + Number(m[2])).toBeGreaterThanOrEqual(2000);
      // Still running, still reading the kernel.
      execFileSync(syscallGenerator(), ['10']);
      await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 2010, 'events after the disk filled');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      // What the spool holds is kept for the next start, not counted as failed.
      expect(p.stderr).toMatch(/closed delivered 0 queued [1-9]\d* spool-dropped [1-9]\d* failed 0 reconnects 0 \(\d+ messages kept in the disk spool /);
    } finally {
      execFileSync('umount', [mnt]);
    }
  }, 40_000);

  it('--not-exe PATH is a kernel rule for the run (status says so), --not-exe-match is the agent\'s; only other programs reach the sink', async () => {
    const reference = path.join(dir, 'exclusions.json');
    const execRules = path.join(dir, 'exec.rules');
    fs.writeFileSync(execRules, '-a always,exit -F arch=b64 -S execve -k fwdx\n');
    const p = new CliProcess(['forward', '--to', `file:${reference}?format=json`, '--rules', execRules, '--key', 'fwdx', '--not-exe', '/usr/bin/true', '--not-exe-match', '^/usr/bin/id$', '--health', '0']);
    await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
    expect(auditctl('-l').split('\n')).toContain('-a never,exit -S all -F exe=/usr/bin/true');
    const status = cli(['status']);
    expect(status.stdout).toMatch(new RegExp(`agent ${p.child.pid} forward .* excluded_by_kernel="-A never,exit -F exe=/usr/bin/true" excluded_by_agent="not exe matching \\^/usr/bin/id\\$"`));
    for (const program of ['/usr/bin/true', '/usr/bin/id', '/usr/bin/uname']) for (let i = 0; i < 3; i++) execFileSync(program, { stdio: 'ignore' });
    const exes = (): string[] => (fs.existsSync(reference) ? readJSONLines<EventJSON>(reference).map((e) => (e as unknown as { process?: { exe?: string } }).process?.exe ?? '') : []);
    await p.waitFor(() => exes().filter((e) => e === '/usr/bin/uname').length >= 3, 'three uname events');
    await stop(p);
    expect(exes().filter((e) => e === '/usr/bin/true' || e === '/usr/bin/id')).toEqual([]);
  });

  it('SIGHUP reloads the config: rules swapped with no call unaudited, a new sink opened, a broken config refused and the running one kept', async () => {
    const config = path.join(dir, 'reload.json');
    const one = path.join(dir, 'reload-1.json');
    const two = path.join(dir, 'reload-2.json');
    const rule = (key: string): string => `-a always,exit -F arch=b64 -S getppid -F ppid=${process.pid} -F key=${key}`;
    const write = (c: object): void => fs.writeFileSync(config, JSON.stringify({ healthSeconds: 0, ...c }));
    write({ rules: [rule('hup1')], sinks: [`file:${one}?format=json&max=0`] });
    const p = new CliProcess(['forward', '--config', config]);
    await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
    // Calls all through the reload: each must be audited by the old rule or the new one.
    const gen = spawn(syscallGenerator(), ['0', '2', '2000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let genOut = '';
    gen.stdout.on('data', (d: Buffer) => (genOut += d));
    await new Promise((r) => setTimeout(r, 700));
    write({ rules: [rule('hup2')], sinks: [`file:${one}?format=json&max=0`, `file:${two}?format=json&max=0`] });
    p.child.kill('SIGHUP');
    await p.waitFor((x) => x.stderr.includes('reloaded'), 'the reload');
    await new Promise((resolve) => gen.on('exit', resolve));
    const calls = Number(/calls=(\d+)/.exec(genOut)![1]);
    expect(p.stderr).toMatch(/linux-audit forward: reloaded \S+: rules \+1 -1; sinks file:\S+reload-1\.json, file:\S+reload-2\.json\n/);
    expect(auditctl('-l')).toContain('key=hup2');
    expect(auditctl('-l')).not.toContain('key=hup1');
    // The calls' events (the rule changes' CONFIG_CHANGE events carry the keys too).
    const keyed = (file: string, key: string): number => (fs.existsSync(file) ? readJSONLines<EventJSON>(file).filter((e) => e.types[0] === 'SYSCALL' && e.keys.includes(key)).length : 0);
    await p.waitFor(() => keyed(one, 'hup1') + keyed(one, 'hup2') >= calls, `${calls} calls in the first sink`);
    expect(keyed(one, 'hup1') + keyed(one, 'hup2')).toBe(calls);
    expect(keyed(one, 'hup1')).toBeGreaterThan(0);
    expect(keyed(one, 'hup2')).toBeGreaterThan(0);
    expect(keyed(two, 'hup2')).toBe(keyed(one, 'hup2'));
    // Each event once (a LOSS notice, which has no serial, is not an event).
    const events = readJSONLines<EventJSON>(one).filter((e) => e.types !== undefined);
    expect(new Set(events.map((e) => e.serial)).size).toBe(events.length);
    // A mistake: one line, and nothing changes.
    fs.writeFileSync(config, JSON.stringify({ rules: ['-a always,exit -S nosuchcall'], sinks: [`file:${one}?format=json&max=0`] }));
    p.child.kill('SIGHUP');
    await p.waitFor((x) => x.stderr.includes('the running config is kept'), 'the refusal');
    expect(p.stderr).toMatch(/linux-audit forward: SIGHUP: .*unknown syscall "nosuchcall".*; the running config is kept\n/);
    expect(auditctl('-l')).toContain('key=hup2');
    await stop(p);
  }, 30_000);

  it('--rate-limit: a burst under one key is held to N a second, and what was held back is counted to the event', async () => {
    const reference = path.join(dir, 'rate.json');
    const p = new CliProcess(['forward', '--to', `file:${reference}?format=json&max=0`, '--rules', rules, '--key', 'fwd', '--type', 'SYSCALL', '--rate-limit', '50', '--health', '0', '--loss-interval', '0']);
    await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
    const started = Date.now();
    execFileSync(syscallGenerator(), ['1000']);
    await new Promise((r) => setTimeout(r, 1000));
    await stop(p);
    const seconds = (Date.now() - started) / 1000;
    const written = readJSONLines<EventJSON>(reference).length;
    const held = Number(/rate limit held back (\d+)/.exec(p.stderr)![1]);
    expect(written + held).toBe(1000);
    // A full bucket of 50, then 50 a second for as long as it could have run.
    expect(written).toBeGreaterThanOrEqual(50);
    expect(written).toBeLessThanOrEqual(50 + Math.ceil(50 * seconds));
  });

  it('--max-argv-bytes: a long command line reaches rsyslog cut to the bound, marked, and counted in the health line', async () => {
    const reference = path.join(dir, 'argv.json');
    const execRules = path.join(dir, 'argv.rules');
    fs.writeFileSync(execRules, '-a always,exit -F arch=b64 -S execve -F exe=/usr/bin/echo -k fwdargv\n');
    const p = new CliProcess(['forward', '--to', `relp://127.0.0.1:${rsyslog.ports.relp}`, '--to', `file:${reference}?format=json&max=0`, '--rules', execRules, '--key', 'fwdargv', '--max-argv-bytes', '64', '--health', '0']);
    await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
    execFileSync('/usr/bin/echo', ['first', 'y'.repeat(10_000), 'last'], { stdio: 'ignore' });
    await p.waitFor(() => fs.existsSync(reference) && readJSONLines<EventJSON>(reference).length >= 1, 'the exec in the reference file');
    await stop(p);
    const [ev] = readJSONLines<EventJSON>(reference) as unknown as Array<EventJSON & { process: Record<string, unknown>; records: Array<{ typeName: string; text: string; cutBytes?: number }> }>;
    // 13 + 5 bytes of the first two arguments, 46 of the third; 10,022 in all.
    expect(ev.process.argv).toEqual(['/usr/bin/echo', 'first', 'y'.repeat(46)]);
    expect(ev.process.argvIncomplete).toBe(true);
    expect(ev.process.argvCutBytes).toBe(10_022 - 64);
    // The kernel's title is the first 128 bytes of the command line.
    expect(ev.process.titleCutBytes).toBe(128 - 64);
    expect(ev.records.filter((r) => r.typeName === 'EXECVE').map((r) => r.text.replace(/^audit\([^)]*\): /, ''))).toEqual([`argc=4 a0="/usr/bin/echo" a1="first" a2="${'y'.repeat(46)}"`]);
    await waitForLines(new Set([ev.serial]));
    const [atRsyslog] = received(new Set([ev.serial]));
    expect(atRsyslog.ev).toEqual(ev);
    expect(p.stderr).toContain(`argv cut in 1 events (${10_022 - 64 + 64} bytes)`);
  });

  it('kernel loss reaches rsyslog: LOSS notices, at most one a second, that add up to what the agent counted', async () => {
    // A backlog of one record and no waiting: the kernel drops what forward
    // has not read yet, as on a host that audits faster than its agent reads.
    const client = await AuditClient.open();
    try {
      await client.setBacklogWaitTime(0);
    } finally {
      client.close();
    }
    const config = path.join(dir, 'loss.json');
    fs.writeFileSync(config, JSON.stringify({ backlogLimit: 1, lossIntervalSeconds: 1, healthSeconds: 0, sinks: [`relp://127.0.0.1:${rsyslog.ports.relp}`] }));
    // The events themselves go nowhere (no key matches): only the notices travel,
    // so none waits behind a burst that the 10 s flush at exit might not clear.
    const p = new CliProcess(['forward', '--config', config, '--rules', rules, '--key', 'no-such-key']);
    await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
    const started = Date.now();
    // The agent stopped while calls are made for a second: once its socket's
    // buffer is full, the kernel's queue of one record overflows, however fast
    // this machine is.
    p.child.kill('SIGSTOP');
    try {
      execFileSync(syscallGenerator(), ['0', '1']);
    } finally {
      p.child.kill('SIGCONT');
    }
    const notices = (): Array<{ sd: string; severity: string; n: { type: string; lost: { kernel?: number }; total: { kernel: number } } }> =>
      rsyslog
        .lines()
        .filter((l) => l.msgid === 'LOSS')
        .map((l) => ({ sd: l.sd, severity: l.severity, n: JSON.parse(l.msg) }));
    await p.waitFor(() => notices().length > 0, 'a LOSS notice at rsyslog');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const seconds = (Date.now() - started) / 1000;
    const lastWords = /lost: kernel (\d+)/.exec(p.stderr);
    const kernel = Number(lastWords![1]);
    const end = Date.now() + 5000;
    while (Date.now() < end && notices().reduce((n, x) => n + (x.n.lost.kernel ?? 0), 0) < kernel) await new Promise((r) => setTimeout(r, 100));
    const got = notices();
    expect(kernel).toBeGreaterThan(0);
    expect(got.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    expect(got.reduce((n, x) => n + (x.n.lost.kernel ?? 0), 0)).toBe(kernel);
    expect(got.at(-1)!.n.total.kernel).toBe(kernel);
    for (const x of got) {
      expect(x.n.type).toBe('LOSS');
      expect(x.severity).toBe('warning');
      if (x.n.lost.kernel !== undefined) expect(x.sd).toContain(`kernel="${x.n.lost.kernel}"`);
    }
  }, 40_000);
}, { rsyslogd: 'rsyslog rsyslog-gnutls rsyslog-relp', openssl: 'openssl' });
