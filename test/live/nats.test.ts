// forward into a real nats-server with JetStream: every event stored once, on
// its key's subject, as the same JSON; the server killed and restarted
// mid-stream loses nothing (publish acknowledgements, the spool, and message
// ids the stream deduplicates).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { runningAgents } from '../../lib/cli/agents.js';
import { CliProcess } from '../helpers/cli.js';
import { auditctl, describeLive, kernelSnapshot, restoreKernel, syscallGenerator, type KernelSnapshot } from '../helpers/live.js';
import { readJSONLines } from '../helpers/json-lines.js';
import { NatsServer } from '../helpers/nats.js';
import { makeCertificates } from '../helpers/rsyslog.js';
import { tempDir } from '../helpers/temp.js';

interface EventJSON {
  serial: number;
  keys: string[];
  types: string[];
}

describeLive('forward to a real nats-server (JetStream)', () => {
  let before: KernelSnapshot;
  let nats: NatsServer;
  let dir: string;
  let rules: string;

  beforeAll(async () => {
    before = await kernelSnapshot();
    auditctl('-D');
    nats = new NatsServer();
    await nats.start();
    dir = tempDir('linux-audit-nats-forward-');
    rules = path.join(dir, 'nats.rules');
    fs.writeFileSync(rules, `-a always,exit -F arch=b64 -S getppid -F ppid=${process.pid} -k natsfwd\n`);
  });

  afterEach(async () => {
    await CliProcess.killAll();
    auditctl('-D');
    await restoreKernel(before);
    await nats.start();
  });

  afterAll(async () => {
    auditctl('-D');
    await restoreKernel(before);
    await nats?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });


  async function forward(to: string, reference: string): Promise<CliProcess> {
    const p = new CliProcess(['forward', '--to', to, '--to', `file:${reference}?format=json&max=0`, '--rules', rules, '--key', 'natsfwd', '--type', 'SYSCALL', '--health', '0', '--loss-interval', '0']);
    await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
    return p;
  }

  it('every event stored once, on the subject of its key, as the same JSON', async () => {
    const reference = path.join(dir, 'plain.json');
    const p = await forward(`${nats.url}?stream=AUDIT1&subject=audit1`, reference);
    execFileSync(syscallGenerator(), ['500']);
    await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 500, '500 events in the reference file');
    p.child.kill('SIGTERM');
    expect(await p.exited, p.stderr).toBe(0);
    expect(p.stderr).toMatch(/nats:\/\/127\.0\.0\.1:\d+\/audit1 closed delivered 500 queued 0 spool-dropped 0 failed 0/);
    const produced = readJSONLines<EventJSON>(reference);
    const stored = await nats.messages('AUDIT1');
    expect(stored.map((m) => m.subject)).toEqual(produced.map(() => 'audit1.natsfwd'));
    expect(stored.map((m) => JSON.parse(m.data))).toEqual(produced);
  });

  it.each([
    ['container', 'audit4.host'],
    ['none', 'audit5'],
  ] as const)('by=%s: the subject is %s (the generator runs on the host), and the stream made takes it', async (by, subject) => {
    const reference = path.join(dir, `by-${by}.json`);
    const prefix = subject.split('.')[0];
    const p = await forward(`${nats.url}?stream=${prefix.toUpperCase()}&subject=${prefix}&by=${by}`, reference);
    execFileSync(syscallGenerator(), ['20']);
    await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 20, '20 events');
    p.child.kill('SIGTERM');
    expect(await p.exited, p.stderr).toBe(0);
    const stored = await nats.messages(prefix.toUpperCase());
    expect(stored.map((m) => m.subject)).toEqual(readJSONLines<EventJSON>(reference).map(() => subject));
  });

  it('format=ecs: the messages are the ECS documents the file sink writes for the same events', async () => {
    const reference = path.join(dir, 'ecs.json');
    const p = new CliProcess(['forward', '--to', `${nats.url}?stream=AUDIT8&subject=audit8&format=ecs`, '--to', `file:${reference}?format=ecs&max=0`, '--rules', rules, '--key', 'natsfwd', '--type', 'SYSCALL', '--health', '0', '--loss-interval', '0']);
    await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
    execFileSync(syscallGenerator(), ['30']);
    await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 30, '30 events');
    p.child.kill('SIGTERM');
    expect(await p.exited, p.stderr).toBe(0);
    const documents = readJSONLines<{ event: { kind: string } }>(reference);
    expect(documents[0].event.kind).toBe('event');
    expect((await nats.messages('AUDIT8')).map((m) => JSON.parse(m.data))).toEqual(documents);
  });

  it('tls+nats: over TLS, the server\'s certificate checked against the CA given', async () => {
    const secure = new NatsServer(true);
    try {
      await secure.start();
      const reference = path.join(dir, 'tls.json');
      const p = await forward(`${secure.url}?ca=${secure.ca}&stream=AUDIT6&subject=audit6`, reference);
      execFileSync(syscallGenerator(), ['50']);
      await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 50, '50 events');
      p.child.kill('SIGTERM');
      expect(await p.exited, p.stderr).toBe(0);
      expect(p.stderr).toMatch(/nats:\/\/127\.0\.0\.1:\d+\/audit6 closed delivered 50 queued 0 spool-dropped 0 failed 0/);
      expect((await secure.messages('AUDIT6')).map((m) => JSON.parse(m.data))).toEqual(readJSONLines<EventJSON>(reference));
      // Another CA: the server is not believed, nothing is sent to it.
      const other = tempDir('linux-audit-other-ca-');
      makeCertificates(other);
      const wrong = path.join(dir, 'tls-wrong.json');
      const q = await forward(`${secure.url}?ca=${path.join(other, 'ca.pem')}&stream=AUDIT6&subject=audit6`, wrong);
      execFileSync(syscallGenerator(), ['10']);
      await q.waitFor(() => readJSONLines<EventJSON>(wrong).length >= 10, '10 events');
      q.child.kill('SIGTERM');
      expect(await q.exited, q.stderr).toBe(0);
      expect(q.stderr).toMatch(/audit6 closed delivered 0 queued 0 spool-dropped 0 failed 1\d reconnects 0 \(1\d messages were still waiting/);
      expect(await secure.messages('AUDIT6')).toHaveLength(50);
    } finally {
      await secure.cleanup();
    }
  });

  it('nats-server killed and restarted mid-stream: every event stored, none twice', async () => {
    const reference = path.join(dir, 'restart.json');
    const p = await forward(`${nats.url}?stream=AUDIT2&subject=audit2`, reference);
    // Calls for two seconds at 2,000 a second, the server killed and started again meanwhile.
    const gen = spawn(syscallGenerator(), ['0', '2', '2000'], { stdio: ['ignore', 'ignore', 'inherit'] });
    await new Promise((r) => setTimeout(r, 500));
    await nats.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 700));
    await nats.start();
    await new Promise((resolve) => gen.on('exit', resolve));
    await p.waitFor(() => /queued 0 /.test(p.stderr) || (p.child.kill('SIGUSR1'), false), 'the spool to empty', 30_000);
    p.child.kill('SIGTERM');
    expect(await p.exited, p.stderr).toBe(0);
    const produced = readJSONLines<EventJSON>(reference).map((e) => e.serial);
    expect(produced.length).toBeGreaterThan(1000);
    const stored = (await nats.messages('AUDIT2')).map((m) => (JSON.parse(m.data) as EventJSON).serial);
    expect(stored.length - new Set(stored).size).toBe(0);
    expect(new Set(stored)).toEqual(new Set(produced));
    expect(p.stderr).toMatch(new RegExp(`nats://127\\.0\\.0\\.1:\\d+/audit2 closed delivered ${produced.length} queued 0 spool-dropped 0 failed 0 reconnects [1-9]`));
  }, 60_000);

  it('a server started again with an empty store: the stream is made again, and what was sent after arrives', async () => {
    const fresh = new NatsServer();
    try {
      await fresh.start();
      const reference = path.join(dir, 'wiped.json');
      const p = await forward(`${fresh.url}?stream=AUDIT7&subject=audit7`, reference);
      execFileSync(syscallGenerator(), ['100']);
      await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 100, '100 events');
      await fresh.stop('SIGTERM');
      fs.rmSync(path.join(fresh.dir, 'store'), { recursive: true, force: true });
      await fresh.start();
      execFileSync(syscallGenerator(), ['100']);
      await p.waitFor(() => readJSONLines<EventJSON>(reference).length >= 200, '200 events');
      await p.waitFor(() => /audit7 connected delivered \d+ queued 0 /.test(p.stderr) || (p.child.kill('SIGUSR1'), false), 'the spool to empty', 30_000);
      p.child.kill('SIGTERM');
      expect(await p.exited, p.stderr).toBe(0);
      const stored = new Set((await fresh.messages('AUDIT7')).map((m) => (JSON.parse(m.data) as EventJSON).serial));
      const after = readJSONLines<EventJSON>(reference).slice(100).map((e) => e.serial);
      expect(after.filter((serial) => !stored.has(serial))).toEqual([]);
      expect(p.stderr).toMatch(/audit7 closed delivered \d+ queued 0 spool-dropped 0 failed 0/);
    } finally {
      await fresh.cleanup();
    }
  }, 60_000);

  it('with a disk spool: nats-server down, the agent SIGKILLed and started again, then the server: every event stored once', async () => {
    const spool = path.join(dir, 'nats-spool');
    const to = `${nats.url}?stream=AUDIT3&subject=audit3&spool=disk:${spool}`;
    const reference = path.join(dir, 'disk.json');
    const first = await forward(to, reference);
    execFileSync(syscallGenerator(), ['300']);
    await first.waitFor(() => readJSONLines<EventJSON>(reference).length >= 300, '300 events');
    await nats.stop('SIGTERM');
    execFileSync(syscallGenerator(), ['700']);
    await first.waitFor(() => readJSONLines<EventJSON>(reference).length >= 1000, '1,000 events');
    // The NATS sink is given each event before the file sink: all are in its spool now.
    first.child.kill('SIGKILL');
    await first.exited;
    runningAgents(); // removes the killed agent's status file, as `linux-audit status` would
    const produced = readJSONLines<EventJSON>(reference).map((e) => e.serial);
    const second = await forward(to, path.join(dir, 'disk-2.json'));
    await nats.start();
    await second.waitFor(() => /queued 0 /.test(second.stderr) || (second.child.kill('SIGUSR1'), false), 'the spool to empty', 30_000);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.stderr).toBe(0);
    const stored = (await nats.messages('AUDIT3')).map((m) => (JSON.parse(m.data) as EventJSON).serial);
    expect(stored.length - new Set(stored).size).toBe(0);
    expect(new Set(stored)).toEqual(new Set(produced));
  }, 60_000);

  it('a server that never answers: the agent still stops on SIGTERM, what it held counted as failed, the reason said', async () => {
    const p = await forward('nats://127.0.0.1:1', path.join(dir, 'nowhere.json'));
    execFileSync(syscallGenerator(), ['20']);
    await p.waitFor(() => readJSONLines<EventJSON>(path.join(dir, 'nowhere.json')).length >= 20, '20 events');
    p.child.kill('SIGTERM');
    expect(await p.exited, p.stderr).toBe(0);
    expect(p.stderr).toMatch(/nats:\/\/127\.0\.0\.1:1\/audit closed delivered 0 queued 0 spool-dropped 0 failed 2\d reconnects 0 \(2\d messages were still waiting for nats:\/\/127\.0\.0\.1:1\/audit at close\)/);
  }, 30_000);
}, { 'nats-server': 'nats-server' });
