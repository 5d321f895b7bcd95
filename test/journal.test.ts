// Crash recovery without a kernel: journals of a dead process, undone through
// a client that answers as the kernel would (and fails where we say).
import { tempDir } from './helpers/temp.js';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recoverOrphans } from '../lib/journal/journal.js';
import type { AuditClient } from '../lib/client/client.js';

/** A pid no process has now (a child that has exited). */
function deadPid(): number {
  return spawnSync('/bin/true').pid!;
}

function fakeClient(failures: Record<string, string>, status = { enabled: 1, backlogLimit: 8192 }) {
  const calls: string[] = [];
  const client = {
    async deleteRule(rule: string) {
      calls.push(`delete ${rule}`);
      const code = failures[rule];
      if (code) throw Object.assign(new Error(`AUDIT_DEL_RULE failed: ${code}`), { code });
    },
    async getStatus() {
      return { ...status };
    },
    async setEnabled(v: number) {
      calls.push(`enabled ${v}`);
    },
    async setBacklogLimit(v: number) {
      calls.push(`backlog ${v}`);
    },
  };
  return { client: client as unknown as AuditClient, calls };
}

describe('crash recovery', () => {
  let dir: string;
  let journal: string;
  const saved = process.env.LINUX_AUDIT_RUN_DIR;

  beforeEach(() => {
    dir = tempDir('la-journal-');
    journal = path.join(dir, 'journal');
    fs.mkdirSync(journal, { mode: 0o700 });
    process.env.LINUX_AUDIT_RUN_DIR = dir;
  });

  afterEach(() => {
    if (saved === undefined) delete process.env.LINUX_AUDIT_RUN_DIR;
    else process.env.LINUX_AUDIT_RUN_DIR = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (pid: number, body: object, mode = 0o600): string => {
    const file = path.join(journal, `${pid}-1.json`);
    fs.writeFileSync(file, JSON.stringify({ version: 1, pid, startTime: '1', command: 'gone', rules: [], ...body }));
    fs.chmodSync(file, mode);
    return file;
  };

  it('undoes every change it can, keeps in the journal what it could not, and says so', async () => {
    const pid = deadPid();
    const file = write(pid, {
      rules: ['-a always,exit -S all -F key=a', '-a always,exit -S all -F key=b', '-a always,exit -S all -F key=c'],
      enabled: { before: 0, set: 1 },
      backlogLimit: { before: 64, set: 8192 },
    });
    // a: the kernel refuses; b: deleted by hand already (ENOENT); c: deleted now.
    const { client, calls } = fakeClient({ '-a always,exit -S all -F key=a': 'EPERM', '-a always,exit -S all -F key=b': 'ENOENT' });
    const [r] = (await recoverOrphans(client)).recovered;
    expect(calls).toEqual([
      'delete -a always,exit -S all -F key=c',
      'delete -a always,exit -S all -F key=b',
      'delete -a always,exit -S all -F key=a',
      'enabled 0',
      'backlog 64',
    ]);
    expect(r.undone).toEqual(['deleted rule -a always,exit -S all -F key=c', 'enabled 1 -> 0', 'backlog_limit 8192 -> 64']);
    expect(r.failed).toEqual(['rule -a always,exit -S all -F key=a: AUDIT_DEL_RULE failed: EPERM']);
    expect(r.message).toContain(`kept in ${file}`);
    // Only what failed is left for the next start.
    const left = JSON.parse(fs.readFileSync(file, 'utf8')) as { rules: string[]; enabled?: unknown; backlogLimit?: unknown };
    expect(left.rules).toEqual(['-a always,exit -S all -F key=a']);
    expect(left.enabled).toBeUndefined();
    expect(left.backlogLimit).toBeUndefined();
  });

  it('removes the journal once everything is undone', async () => {
    const file = write(deadPid(), { rules: ['-a always,exit -S all -F key=x'], enabled: { before: 0, set: 1 } });
    const { client } = fakeClient({});
    const [r] = (await recoverOrphans(client)).recovered;
    expect(r.failed).toEqual([]);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('never reads a journal anyone else could have written, and says why', async () => {
    write(deadPid(), { rules: ['-a always,exit -S all -F key=planted'], enabled: { before: 0, set: 1 } }, 0o666);
    const { client, calls } = fakeClient({});
    const r = (await recoverOrphans(client)).recovered;
    expect(calls).toEqual([]);
    expect(r).toHaveLength(1);
    expect(r[0].message).toMatch(/writable by anyone \(mode 666\).*only root's own are trusted/);
  });

  it('never reads a journal directory that is a link or that others may write to', async () => {
    write(deadPid(), { rules: ['-a always,exit -S all -F key=planted'] });
    const elsewhere = path.join(dir, 'elsewhere');
    fs.renameSync(journal, elsewhere);
    fs.symlinkSync(elsewhere, journal);
    const { client, calls } = fakeClient({});
    expect((await recoverOrphans(client)).recovered[0].message).toMatch(/is a symbolic link/);
    fs.unlinkSync(journal);
    fs.renameSync(elsewhere, journal);
    fs.chmodSync(journal, 0o777);
    expect((await recoverOrphans(client)).recovered[0].message).toMatch(/journal is writable by anyone/);
    expect(calls).toEqual([]);
  });
});
