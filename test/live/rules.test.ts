import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { AuditClient } from '../../lib/client/client.js';
import { auditctl, describeLive, kernelSnapshot, restoreKernel, type KernelSnapshot } from '../helpers/live.js';
import { corpusPath, listCorpus } from '../helpers/corpus.js';

/**
 * Real auditctl is the oracle: each corpus rules file is loaded once by us and
 * once by `auditctl -R`, and the kernel must list the same rules both times,
 * with our listing equal to auditctl's, and the same lines refused.
 */
describeLive('rules against auditctl on the real kernel', () => {
  let before: KernelSnapshot;
  let client: AuditClient;
  let dir: string;

  beforeAll(async () => {
    before = await kernelSnapshot();
    client = await AuditClient.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-rules-'));
    auditctl('-D');
  });

  afterEach(async () => {
    auditctl('-D');
    await restoreKernel(before);
  });

  afterAll(async () => {
    auditctl('-D');
    client?.close();
    await restoreKernel(before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const files = [
    ...listCorpus('audit-userspace/rules', '.rules').map((f) => `audit-userspace/rules/${f}`),
    'rules/neo23x0-auditd/audit.rules',
    'rules/cis-docker-time-network.rules',
  ];

  /** Syscall names the local auditctl knows (its libaudit may be older than our tables). */
  const known = new Map<string, Set<string>>();
  function auditctlKnows(arch: string, name: string): boolean {
    let names = known.get(arch);
    if (!names) {
      const out = spawnSync('ausyscall', [arch, '--dump'], { encoding: 'utf8' }).stdout;
      names = new Set(out.split('\n').slice(1).map((l) => l.split('\t')[1]).filter(Boolean));
      known.set(arch, names);
    }
    return names.has(name) || /^\d+$/.test(name) || name === 'all';
  }

  /**
   * The file as both tools get it: never a line that locks the configuration
   * or panics the kernel, no line naming a syscall newer than the local
   * auditctl's table (we know it, auditctl would refuse it), and -c first so
   * both go on past refused lines.
   */
  function sanitized(rel: string): string {
    const lines = fs
      .readFileSync(corpusPath(rel), 'utf8')
      .split('\n')
      .map((l) => {
        if (/^\s*(-e\s+2|-f\s+2|--loginuid-immutable)\b/.test(l)) return '# (removed by the test: locks or panics)';
        const arch = /-F arch=b32/.test(l) ? 'i386' : 'x86_64';
        const names = [...l.matchAll(/-S\s+(\S+)/g)].flatMap((m) => m[1].split(','));
        if (names.some((n) => !auditctlKnows(arch, n))) return '# (removed by the test: a syscall newer than this auditctl)';
        return l;
      });
    const file = path.join(dir, path.basename(rel));
    fs.writeFileSync(file, ['-c', ...lines].join('\n'));
    return file;
  }

  it.each(files)('%s', async (rel) => {
    const file = sanitized(rel);
    auditctl('-D');
    const ours = await client.loadRules({ path: file }, { expandPerm: false });
    const oursListed = auditctl('-l');
    const oursText = await client.listRules();

    auditctl('-D');
    await restoreKernel(before);
    spawnSync('auditctl', ['-R', file], { encoding: 'utf8' });
    const theirsListed = auditctl('-l');
    expect(oursListed).toBe(theirsListed);
    expect(oursText.length > 0 ? oursText.join('\n') + '\n' : 'No rules\n').toBe(theirsListed);

    // auditctl -R reports to syslog, not stderr: ask it line by line, in the
    // state its whole load left, whether it refuses each line we refused.
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (const f of ours.failures) {
      const one = path.join(dir, 'one.rules');
      fs.writeFileSync(one, lines[f.line - 1] + '\n');
      const r = spawnSync('auditctl', ['-R', one], { encoding: 'utf8' });
      expect(r.status, `auditctl should refuse ${rel}:${f.line - 1} (${f.text}) as we did: ${f.error.message}`).not.toBe(0);
    }
  });

  it('refuses what the kernel refuses with the errno auditctl reports', async () => {
    await client.addRule('-w /tmp -p wa -k la_dup');
    const dup = spawnSync('auditctl', ['-w', '/tmp', '-p', 'wa', '-k', 'la_dup'], { encoding: 'utf8' });
    expect(dup.stderr).toMatch(/Rule exists/);
    await expect(client.addRule('-w /tmp -p wa -k la_dup')).rejects.toMatchObject({ code: 'EEXIST', message: expect.stringMatching(/already has this rule: -w \/tmp -p wa -k la_dup/) });
    const missing = spawnSync('auditctl', ['-w', '/nonexistent-la/dir/file'], { encoding: 'utf8' });
    expect(missing.stderr).toMatch(/No such file or directory/);
    await expect(client.addRule('-w /nonexistent-la/dir/file')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(client.deleteRule('-w /nonexistent-la/other')).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/no such rule/) });
    expect(await client.deleteAllRules('la_dup')).toBe(1);
    expect(await client.listRules()).toEqual([]);
  });

  it('reports file:line and stops at the first failure unless told to go on', async () => {
    const file = path.join(dir, 'bad.rules');
    fs.writeFileSync(file, '-w /tmp -p wa -k la_a\n-a always,exit -F arch=b64 -S nosuchcall\n-w /var/tmp -p wa -k la_b\n');
    await expect(client.loadRules({ path: file })).rejects.toThrow(new RegExp(`${file}:2:.*unknown syscall "nosuchcall"`));
    expect(await client.listRules()).toEqual(['-w /tmp -p wa -k la_a']);
    auditctl('-D');
    const r = await client.loadRules({ path: file }, { continueOnError: true });
    expect(r).toMatchObject({ added: 2, failures: [{ line: 2 }] });
    expect(await client.listRules()).toEqual(['-w /tmp -p wa -k la_a', '-w /var/tmp -p wa -k la_b']);
  });

  it('loads a rules.d directory in natural order with augenrules placement of control lines', async () => {
    const d = path.join(dir, 'rules.d');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, '10-b.rules'), '-w /tmp -p w -k la_10\n-b 320\n');
    fs.writeFileSync(path.join(d, '9-a.rules'), '-w /var/tmp -p w -k la_9\n-D\n');
    fs.writeFileSync(path.join(d, 'notes.txt'), 'not a rules file\n');
    const r = await client.loadRules({ path: d });
    expect(r).toMatchObject({ added: 2, applied: 2, failures: [] });
    // -D ran first (so the rule before it in 9-a survives), 9 before 10.
    expect(await client.listRules()).toEqual(['-w /var/tmp -p w -k la_9', '-w /tmp -p w -k la_10']);
    expect((await client.getStatus()).backlogLimit).toBe(320);
  });

  it('requests the kernel takes long over (deleting rules waits for RCU) do not block the event loop', async () => {
    // Enough deletes that the kernel takes a while over them (each waits for an
    // RCU grace period; how long depends on the machine): double until it does.
    let took = 0;
    let maxLag = 0;
    for (let n = 100; took < 300 && n <= 8000; n *= 2) {
      const lines = Array.from({ length: n }, (_, i) => `-a always,exit -F arch=b64 -S openat -F key=la_lag_${i}`);
      expect((await client.loadRules(lines.join('\n'))).added).toBe(n);
      maxLag = 0;
      let last = Date.now();
      const timer = setInterval(() => {
        const now = Date.now();
        maxLag = Math.max(maxLag, now - last - 5);
        last = now;
      }, 5);
      const t0 = Date.now();
      expect(await client.deleteAllRules()).toBe(n);
      took = Date.now() - t0;
      clearInterval(timer);
    }
    // Sent from this thread, the deletes would hold it for all of `took`; sent
    // from the addon's, the loop goes on (timer jitter aside).
    expect(maxLag).toBeLessThan(Math.max(took / 4, 50));
  });

  it('refuses -e 2 and -f 2 in a file without the loud options', async () => {
    await expect(client.loadRules('-e 2\n')).rejects.toThrow(/dangerouslyLockUntilReboot/);
    await expect(client.loadRules('-f 2\n')).rejects.toThrow(/dangerouslyPanicOnFailure/);
    expect((await client.getStatus()).enabled).not.toBe(2);
  });
});
