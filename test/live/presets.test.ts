import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { presetRules, subscribe, type AuditEvent } from '../../lib/index.js';
import { auditctl, collect, describeLive, kernelSnapshot, restoreKernel, type KernelSnapshot } from '../helpers/live.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describeLive('presets and subscribe({ rules }) on the real kernel', () => {
  let before: KernelSnapshot;
  let dir: string;
  let timecalls: string;

  beforeAll(async () => {
    before = await kernelSnapshot();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-presets-'));
    timecalls = path.join(dir, 'timecalls');
    execFileSync('cc', ['-O2', '-o', timecalls, path.resolve(here, '..', 'fixtures', 'timecalls.c')]);
  });

  afterEach(async () => {
    await restoreKernel(before);
  });

  afterAll(async () => {
    await restoreKernel(before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('time-change sees adjtimex, clock_adjtime and a refused clock_settime, and removes exactly its rules on close', async () => {
    auditctl('-w', '/etc/localtime', '-p', 'wa', '-k', 'time-change'); // already there: used, and left alone
    try {
      const sub = subscribe({ mode: 'unicast', enable: true, presets: ['time-change'] });
      await sub.ready;
      expect(sub.rules.present).toEqual(['-w /etc/localtime -p wa -k time-change']);
      expect(sub.rules.installed[0]).toBe(`-a never,exit -S all -F pid=${process.pid}`);
      expect(sub.rules.installed).toContain('-a always,exit -F arch=b64 -S clock_settime -F a0=0x0 -F key=time-change');
      const during = auditctl('-l');
      for (const r of sub.rules.installed) expect(during).toContain(r);

      const out = spawnSync(timecalls, [], { encoding: 'utf8' }).stdout;
      expect(out).toBe('adjtimex=0 clock_adjtime=0 clock_settime=-1\n');
      const timeEvents = (evs: AuditEvent[]) => evs.filter((e) => e.keys.includes('time-change') && e.syscall?.exe === timecalls);
      const events = timeEvents(
        await collect(sub, (evs) => {
          const t = timeEvents(evs);
          return ['159', '305', '227'].every((nr) => t.some((e) => e.syscall?.syscall === nr));
        }),
      );
      const adj = events.find((e) => e.syscall?.syscall === '159');
      const set = events.find((e) => e.syscall?.syscall === '227');
      expect(adj?.syscall?.success).toBe('yes');
      expect(events.find((e) => e.syscall?.syscall === '305')?.syscall).toMatchObject({ success: 'yes', a0: '0' });
      expect(set?.syscall).toMatchObject({ success: 'no', exit: '-22', a0: '0' });
      await sub.close();

      const after = auditctl('-l');
      expect(after).toBe('-w /etc/localtime -p wa -k time-change\n');
    } finally {
      auditctl('-D');
    }
  });

  it('docker, on a test root, sees a write to daemon.json', async () => {
    const root = path.join(dir, 'host');
    fs.mkdirSync(path.join(root, 'etc', 'docker'), { recursive: true });
    const preset = presetRules('docker', { root });
    expect(preset.rules).toContain(`-w ${root}/etc/docker/daemon.json -k docker`);
    expect(preset.skipped.map((s) => s.rule)).toContain(`-w ${root}/usr/bin/dockerd -k docker`);
    const sub = subscribe({ mode: 'unicast', enable: true, rules: preset.rules });
    await sub.ready;
    const target = path.join(root, 'etc', 'docker', 'daemon.json');
    spawnSync('/bin/sh', ['-c', `echo '{}' > ${target}`]);
    const events = await collect(sub, (evs) => evs.some((e) => e.keys.includes('docker') && e.records.some((r) => r.fields.name === target)));
    const write = events.find((e) => e.keys.includes('docker') && e.records.some((r) => r.fields.name === target));
    expect(write?.syscall?.success).toBe('yes');
    await sub.close();
    expect(auditctl('-l')).toBe('No rules\n');
  });

  it('a rule the kernel refuses fails the subscription clearly and leaves nothing behind', async () => {
    const sub = subscribe({ mode: 'unicast', enable: true, rules: ['-w /etc/passwd -p wa -k la_ok', '-w /nonexistent-la/dir/x -k la_bad'] });
    await expect(sub.ready).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/directory of the watched path does not exist/) });
    await sub.close();
    expect(auditctl('-l')).toBe('No rules\n');
    expect((await kernelSnapshot()).pid).toBe(before.pid);
  });

  it('a rule that does not parse fails before the kernel is touched', async () => {
    const sub = subscribe({ mode: 'unicast', rules: ['-a always,exit -S nosuchcall'] });
    await expect(sub.ready).rejects.toThrow(/subscribe rules:1:.*unknown syscall "nosuchcall"/);
    expect(await kernelSnapshot()).toEqual(before);
  });
});
