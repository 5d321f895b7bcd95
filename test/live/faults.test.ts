// Faults on the real kernel: a subscriber killed mid-stream and what the next
// start does about it; the kernel losing records under a tiny backlog; the
// socket overflowing under a tiny receive buffer; two subscribers in one
// process and one in a worker thread; control requests while events flood.
// Each test says which counter accounted for what was lost.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { subscribe, type AuditEvent } from '../../lib/index.js';
import { AuditClient } from '../../lib/client/client.js';
import { CLI, CliProcess } from '../helpers/cli.js';
import { auditctl, collect, deleteRules, describeLive, kernelSnapshot, resources, restoreKernel, syscallGenerator, type KernelSnapshot } from '../helpers/live.js';

const KEY = `la_fault_${process.pid}`;
const DIST = path.resolve(path.dirname(CLI), '..', 'index.js');

/** The generator for `seconds` at full speed, its getppid calls audited by the rule our subscribers install. */
function load(seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(syscallGenerator(), ['0', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => resolve(Number(/calls=(\d+)/.exec(out)?.[1] ?? 0)));
  });
}

/**
 * The rule that audits the generator, under a key of the test's own: records a
 * previous test left in the kernel's queue (it keeps them for the next daemon)
 * must not count here. `auditctl -D -k KEY` deletes them all (it matches part of a key).
 */
const ruleFor = (tag: string): { key: string; rule: string } => {
  const key = `${KEY}_${tag}`;
  return { key, rule: `-a always,exit -F arch=b64 -S getppid -F ppid=${process.pid} -F key=${key}` };
};

/** A generator's call, not the CONFIG_CHANGE of adding the rule (which carries the key too). */
const isLoad = (ev: AuditEvent, key: string): boolean => ev.syscall !== undefined && ev.keys.includes(key);

function waitForLine(child: ChildProcess, text: string, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${text}"; got: ${out}`)), ms);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`exited (${code}) before "${text}"; got: ${out}`)));
  });
}

const killed = new Set<ChildProcess>();
function kill9(child: ChildProcess): Promise<void> {
  killed.add(child);
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describeLive('faults on the real kernel', () => {
  let before: KernelSnapshot;
  let rulesBefore: string;
  let runDir: string;

  beforeAll(async () => {
    before = await kernelSnapshot();
    rulesBefore = auditctl('-l');
    // A private run directory: journals of this file's victims only.
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-run-'));
    process.env.LINUX_AUDIT_RUN_DIR = runDir;
  });

  afterEach(async () => {
    for (const c of killed) {
      await kill9(c);
      // What recovery should have removed, in case a failed test left it.
      spawnSync('auditctl', ['-d', 'never,exit', '-S', 'all', '-F', `pid=${c.pid}`]);
    }
    killed.clear();
    await CliProcess.killAll();
    deleteRules(KEY);
    await restoreKernel(before);
  });

  afterAll(async () => {
    deleteRules(KEY);
    await restoreKernel(before);
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('SIGKILL mid-stream: the next subscriber registers at once, undoes what the dead one left, and says so', async () => {
    const { key, rule: loadRule } = ruleFor('kill');
    // A subscriber in its own process: rules, auditing turned on, a raised backlog limit, the daemon pid.
    const script = `
      import { subscribe } from ${JSON.stringify(DIST)};
      const sub = subscribe({ mode: 'unicast', enable: true, backlogLimit: ${before.backlogLimit + 4321}, rules: [${JSON.stringify(loadRule)}] });
      await sub.ready;
      process.stdout.write('ready\\n');
      let n = 0;
      for await (const ev of sub) if (++n === 1000) process.stdout.write('streaming\\n');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, LINUX_AUDIT_RUN_DIR: runDir },
    });
    killed.add(child);
    await waitForLine(child, 'ready');
    const generating = load(3);
    await waitForLine(child, 'streaming');
    await kill9(child);
    await generating;

    // What the killed process left behind, as auditctl sees it. The daemon pid
    // is not among it: the kernel dropped it when the next record could not
    // reach the dead socket (the command's test below kills an idle one).
    const left = await kernelSnapshot();
    expect(left.pid).toBe(0);
    expect(left.enabled).toBe(1);
    expect(left.backlogLimit).toBe(before.backlogLimit + 4321);
    expect(auditctl('-l')).toContain(`key=${key}`);
    expect(auditctl('-l')).toContain(`-F pid=${child.pid}`);

    const t0 = Date.now();
    const sub = subscribe({ mode: 'unicast' });
    await sub.ready;
    const registeredAfterMs = Date.now() - t0;
    expect(sub.stats().mode).toBe('unicast');
    expect((await kernelSnapshot()).pid).toBe(process.pid);
    expect(sub.recovered).toHaveLength(1);
    const r = sub.recovered[0];
    expect(r.pid).toBe(child.pid);
    expect(r.failed).toEqual([]);
    expect(r.undone).toEqual([
      `deleted rule ${loadRule}`,
      `deleted rule -a never,exit -S all -F pid=${child.pid}`,
      `enabled 1 -> ${before.enabled}`,
      `backlog_limit ${before.backlogLimit + 4321} -> ${before.backlogLimit}`,
    ].filter((line) => before.enabled === 0 || !line.startsWith('enabled')));
    expect(r.message).toMatch(new RegExp(`^cleaned up after pid ${child.pid} \\(.*\\), which ended without closing its subscription: deleted rule`));
    expect(fs.readdirSync(path.join(runDir, 'journal')).filter((n) => n.startsWith(`${child.pid}-`))).toEqual([]);
    await sub.close();
    expect(registeredAfterMs).toBeLessThan(5000);
    expect(await kernelSnapshot()).toEqual(before);
    expect(auditctl('-l')).toBe(rulesBefore);
  });

  it('the command says what it cleaned up after a killed tail, and leaves the kernel as it was', async () => {
    const { key, rule: loadRule } = ruleFor('cli');
    const rules = path.join(runDir, 'rules');
    fs.writeFileSync(rules, `${loadRule}\n`);
    const env = { LINUX_AUDIT_RUN_DIR: runDir };
    const first = new CliProcess(['tail', '--rules', rules, '--format', 'raw'], { env });
    await first.waitFor((p) => p.stderr.includes('receiving in'), 'the first tail to start');
    first.child.kill('SIGKILL');
    await first.exited;
    expect(auditctl('-l')).toContain(`key=${key}`);
    // Idle: no record has tried the dead socket, so the kernel still names it
    // the daemon; it forgets it at the first record it cannot deliver (the
    // rule deletions write one), and the second registers in its place.
    expect((await kernelSnapshot()).pid).toBe(first.child.pid);

    const second = new CliProcess(['tail', '--format', 'raw'], { env });
    await second.waitFor((p) => p.stderr.includes('receiving in'), 'the second tail to start');
    expect(second.stderr).toContain(`linux-audit tail: cleaned up after pid ${first.child.pid} (`);
    expect(second.stderr).toContain(`deleted rule ${loadRule}`);
    expect(second.stderr).toMatch(/receiving in unicast mode/);
    expect(auditctl('-l')).toBe(rulesBefore);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(await kernelSnapshot()).toEqual(before);
  });

  it('SIGINT to the command (Ctrl-C) stops it cleanly: exit 0, rules and settings as they were, no journal left', async () => {
    const { key, rule } = ruleFor('sigint');
    const rules = path.join(runDir, 'sigint.rules');
    fs.writeFileSync(rules, `${rule}\n`);
    const tail = new CliProcess(['tail', '--rules', rules, '--format', 'raw'], { env: { LINUX_AUDIT_RUN_DIR: runDir } });
    await tail.waitFor((p) => p.stderr.includes('receiving in'), 'the tail to start');
    expect(auditctl('-l')).toContain(`key=${key}`);
    tail.child.kill('SIGINT');
    expect(await tail.exited).toBe(0);
    expect(await kernelSnapshot()).toEqual(before);
    expect(auditctl('-l')).toBe(rulesBefore);
    expect(fs.readdirSync(path.join(runDir, 'journal')).filter((n) => n.startsWith(`${tail.child.pid}-`))).toEqual([]);
  });

  it('a tiny backlog limit with no wait: the kernel loses records, and stats().kernelLost says how many', async () => {
    const client = await AuditClient.open();
    try {
      await client.setBacklogLimit(1);
      await client.setBacklogWaitTime(0);
      const { key, rule: loadRule } = ruleFor('lost');
      // overflow 'kernel': we never drop, so what is lost is the kernel's doing.
      const sub = subscribe({ mode: 'unicast', enable: true, backlogLimit: 1, overflow: 'kernel', rules: [loadRule], statsIntervalMs: 100 });
      await sub.ready;
      const lostBefore = (await client.getStatus()).lost;
      let events = 0;
      const reading = (async () => {
        for await (const ev of sub) if (isLoad(ev, key)) events++;
      })();
      const calls = await load(1);
      await new Promise((r) => setTimeout(r, 1500));
      const lost = (await client.getStatus()).lost - lostBefore;
      const s = sub.stats();
      await sub.close();
      await reading;
      expect(lost).toBeGreaterThan(0);
      // The kernel's counter is polled: every loss it counted is in stats().
      expect(s.kernelLost).toBe(lost);
      expect(s.dropped).toBe(0);
      // What arrived and what the kernel lost cover the calls (lost counts records: an event may lose one or all of its).
      expect(events).toBeLessThan(calls);
      expect(events + lost).toBeGreaterThanOrEqual(calls);
    } finally {
      client.close();
    }
  });

  it('two subscribers in one process: a multicast one with a tiny receive buffer overflows, counts it, and the unicast one loses nothing', async () => {
    const { key, rule: loadRule } = ruleFor('two');
    // The unicast one holds the kernel back rather than drop when this thread
    // is busy with both: it must lose nothing.
    const uni = subscribe({ mode: 'unicast', enable: true, overflow: 'kernel', rules: [loadRule] });
    await uni.ready;
    const multi = subscribe({ mode: 'multicast', receiveBufferBytes: 1 });
    await multi.ready;
    let uniEvents = 0;
    let multiEvents = 0;
    const a = (async () => {
      for await (const ev of uni) if (isLoad(ev, key)) uniEvents++;
    })();
    const b = (async () => {
      for await (const ev of multi) if (isLoad(ev, key)) multiEvents++;
    })();
    const calls = await load(2);
    const end = Date.now() + 10_000;
    while (uniEvents < calls && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const u = uni.stats();
    const m = multi.stats();
    await multi.close();
    await uni.close();
    await Promise.all([a, b]);
    expect({ uniEvents, lost: u.kernelLost + u.socketOverruns + u.dropped, u }).toMatchObject({ uniEvents: calls, lost: 0 });
    expect(m.socketOverruns).toBeGreaterThan(0);
    expect(multiEvents).toBeLessThan(calls);
  });

  it('a subscriber in a worker thread receives, and terminating the worker mid-stream leaves no socket, thread or kernel change behind', async () => {
    const { key, rule: loadRule } = ruleFor('worker');
    const base = resources();
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       import(${JSON.stringify(DIST)}).then(async ({ subscribe }) => {
         const sub = subscribe({ mode: 'unicast', enable: true, rules: [${JSON.stringify(loadRule)}] });
         await sub.ready;
         parentPort.postMessage('ready');
         let n = 0;
         for await (const ev of sub) if (ev.keys.includes(${JSON.stringify(key)}) && ++n === 100) parentPort.postMessage('streaming');
       });`,
      { eval: true, env: { ...process.env, LINUX_AUDIT_RUN_DIR: runDir } },
    );
    const messages: string[] = [];
    worker.on('message', (m: string) => messages.push(m));
    const until = async (m: string): Promise<void> => {
      const end = Date.now() + 10_000;
      while (!messages.includes(m)) {
        if (Date.now() > end) throw new Error(`the worker never said ${m}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until('ready');
    const generating = load(2);
    await until('streaming');
    await worker.terminate();
    await generating;
    // The worker's registration, rules and settings are undone with it, and its journal is gone.
    expect(await kernelSnapshot()).toEqual(before);
    expect(auditctl('-l')).toBe(rulesBefore);
    expect(fs.readdirSync(path.join(runDir, 'journal'))).toEqual([]);
    const end = Date.now() + 5000;
    while (Date.now() < end && resources().threads > base.threads) await new Promise((r) => setTimeout(r, 50));
    expect(resources().fds).toBeLessThanOrEqual(base.fds);
    expect(resources().threads).toBeLessThanOrEqual(base.threads);
  });

  it('an exception while JS takes a batch reaches the consumer as an error; the stream does not hang, the kernel is restored', async () => {
    // A fault injected where the subscription hands each event of a batch to
    // the process table (trackProcesses): the first exec event throws there.
    const { ProcessTable } = await import('../../lib/enrich/process.js');
    const exec = ProcessTable.prototype.exec;
    ProcessTable.prototype.exec = () => {
      throw new Error('injected fault while taking a batch');
    };
    try {
      const sub = subscribe({ mode: 'unicast', enable: true, trackProcesses: true, rules: [`-a always,exit -F arch=b64 -S execve -F ppid=${process.pid} -k ${KEY}`] });
      await sub.ready;
      spawnSync('/bin/true');
      const outcome = await Promise.race([
        (async () => {
          for await (const ev of sub) void ev;
          return 'ended';
        })().catch((e: Error) => e.message),
        new Promise((resolve) => setTimeout(() => resolve('hung'), 10_000)),
      ]);
      expect(outcome).toBe('injected fault while taking a batch');
      await sub.close();
    } finally {
      ProcessTable.prototype.exec = exec;
    }
    expect(await kernelSnapshot()).toEqual(before);
    expect(auditctl('-l')).toBe(rulesBefore);
  });

  it('without any audit capability, multicast fails with EPERM and says which capability it needs', async () => {
    const script = `
      const a = await import(${JSON.stringify(DIST)});
      const s = a.subscribe({ mode: 'multicast' });
      try { await s.ready; console.log(JSON.stringify({ mode: s.stats().mode })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, message: e.message })); }`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ code: 'EPERM', errno: -1, message: expect.stringMatching(/CAP_AUDIT_READ/) });
  });

  it('control requests are answered while events flood the event socket', async () => {
    const { key, rule: loadRule } = ruleFor('control');
    const sub = subscribe({ mode: 'unicast', enable: true, rules: [loadRule] });
    await sub.ready;
    let events = 0;
    const reading = (async () => {
      for await (const _ of sub) events++;
    })();
    const client = await AuditClient.open();
    const generating = load(3);
    let flooding = true;
    void generating.then(() => (flooding = false));
    await new Promise((r) => setTimeout(r, 300));
    let answeredDuringFlood = false;
    try {
      for (let i = 0; i < 100; i++) {
        const [status, list] = await Promise.all([client.getStatus(), client.listRules()]);
        expect(status.pid).toBe(process.pid);
        expect(list.some((line) => line.includes(`key=${key}`))).toBe(true);
      }
      answeredDuringFlood = flooding;
    } finally {
      client.close();
      await generating;
      await sub.close();
      await reading;
    }
    expect(events).toBeGreaterThan(10_000);
    // All 100 pairs were answered before the generator stopped, not after the flood.
    expect(answeredDuringFlood).toBe(true);
  });
});
