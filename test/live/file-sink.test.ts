// The file sink on a disk that fills up: a real filesystem (a small tmpfs,
// mounted by the test and unmounted after) cuts a write short and then refuses
// the next. Every line is counted as delivered only when it is wholly on disk,
// and what is written after space is freed starts on a line of its own.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { AuditEvent } from '../../lib/assemble/event.js';
import { readAuditLog } from '../../lib/logfile/read.js';
import { FileSink } from '../../lib/sinks/index.js';
import { describeLive } from '../helpers/live.js';
import { tempDir } from '../helpers/temp.js';

const LINE =
  'type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=4242 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="id" exe="/usr/bin/id" key="full"';

describeLive('file sink on a full disk', () => {
  let dir: string | undefined;
  let sink: FileSink | undefined;
  afterEach(async () => {
    // Closed first: its open file would keep the filesystem busy.
    await sink?.close(0);
    sink = undefined;
    if (!dir) return;
    execFileSync('umount', ['--lazy', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('a short write and then ENOSPC: lines wholly on disk delivered, the rest failed, the cut line ended before the next', async () => {
    dir = tempDir('linux-audit-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir]);
    const file = path.join(dir, 'audit.json');
    const [ev] = await (async () => {
      const out: AuditEvent[] = [];
      for await (const e of readAuditLog([LINE + '\n'])) out.push(e);
      return out;
    })();
    const line = JSON.stringify(ev);
    sink = new FileSink({ path: file, format: 'json', maxBytes: 0 });
    // 100 KB in one batch on a 64 KB filesystem: the write stops where the disk is full.
    const total = Math.ceil(100_000 / (line.length + 1));
    for (let i = 0; i < total; i++) sink.write(ev);
    expect(await sink.flush(5000)).toBe(true);
    const full = sink.stats();
    const text = fs.readFileSync(file, 'utf8');
    const whole = text.split('\n').slice(0, -1);
    expect(text.endsWith('\n')).toBe(false); // the disk filled inside a line
    expect(whole.every((l) => l === line)).toBe(true);
    expect(full).toMatchObject({ delivered: whole.length, failed: total - whole.length, queued: 0 });
    expect(full.lastError).toMatch(/ENOSPC/);

    // Space again (the filesystem grows, as an operator would free it): the next line stands alone.
    execFileSync('mount', ['-o', 'remount,size=256k', dir]);
    sink.write(ev);
    expect(await sink.flush(5000)).toBe(true);
    await sink.close();
    const after = fs.readFileSync(file, 'utf8').split('\n');
    expect(after.slice(0, whole.length)).toEqual(whole);
    expect(line.startsWith(after[whole.length])).toBe(true); // the cut line, left as it was
    expect(after.slice(whole.length + 1)).toEqual([line, '']);
    expect(sink.stats()).toMatchObject({ delivered: whole.length + 1, failed: total - whole.length });
    expect(sink.stats().lastError).toBeUndefined();
  });
});
