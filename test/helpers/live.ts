// Live tests talk to the real kernel. They run only as root on a kernel with
// audit, with auditctl installed; with LINUX_AUDIT_REQUIRE_LIVE=1 (CI) a live
// suite that cannot run fails instead of skipping.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tempDir } from './temp.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { AuditClient } from '../../lib/client/client.js';
import type { AuditStatus } from '../../lib/client/status.js';
import type { AuditEvent } from '../../lib/assemble/event.js';
import type { Subscription } from '../../lib/subscribe/subscription.js';

export const REQUIRE_LIVE = process.env.LINUX_AUDIT_REQUIRE_LIVE === '1';

function findAuditctl(): string | undefined {
  return ['/usr/sbin/auditctl', '/sbin/auditctl'].find((p) => fs.existsSync(p));
}

async function unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'live tests need root';
  if (!findAuditctl()) return 'auditctl is not installed (Debian: apt-get install auditd; do not start the daemon)';
  if (!fs.existsSync('/proc/self/loginuid')) return 'the kernel has no CONFIG_AUDITSYSCALL';
  let client: AuditClient | undefined;
  try {
    client = await AuditClient.open();
    const s = await client.getStatus();
    if (s.enabled === 2) return 'the audit configuration is locked (enabled=2) until reboot';
  } catch (e) {
    return `the kernel audit socket is not usable: ${(e as Error).message}`;
  } finally {
    client?.close();
  }
  return undefined;
}

const kernelReason = await unavailable();

/** Where a program is on PATH, or undefined. */
function which(program: string): string | undefined {
  // A path names a file a package installs (a library): it is there or not.
  if (program.startsWith('/')) return fs.existsSync(program) ? program : undefined;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir, program);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/**
 * A describe() that runs against the live kernel, or skips (fails under
 * LINUX_AUDIT_REQUIRE_LIVE=1). `programs` are peers the suite also needs
 * (rsyslogd, openssl, ausearch), with the Debian package that has them.
 */
export function describeLive(name: string, fn: () => void, programs: Record<string, string> = {}): void {
  const missing = Object.entries(programs).filter(([program]) => !which(program));
  const reason = missing.length > 0 ? `not installed: ${missing.map(([p, pkg]) => `${p} (apt-get install ${pkg})`).join(', ')}` : kernelReason;
  if (reason === undefined) describe(name, fn);
  else if (REQUIRE_LIVE) describe(name, () => it('runs against the live kernel', () => {
    throw new Error(`LINUX_AUDIT_REQUIRE_LIVE=1 but this live suite cannot run: ${reason}`);
  }));
  else describe.skip(`${name} (skipped: ${reason})`, fn);
}

export function auditctl(...args: string[]): string {
  return execFileSync(findAuditctl()!, args, { encoding: 'utf8' });
}

/** Rules tagged with `key` are ours: add them, and delete every rule with that key. */
export function addRules(key: string, rules: string[]): void {
  for (const r of rules) auditctl(...r.split(' '), '-F', `key=${key}`);
}

export function deleteRules(key: string): void {
  spawnSync(findAuditctl()!, ['-D', '-k', key], { encoding: 'utf8' });
}

export type KernelSnapshot = Pick<AuditStatus, 'enabled' | 'failure' | 'pid' | 'rateLimit' | 'backlogLimit' | 'backlogWaitTime'>;

export async function kernelSnapshot(): Promise<KernelSnapshot> {
  const client = await AuditClient.open();
  try {
    const s = await client.getStatus();
    return { enabled: s.enabled, failure: s.failure, pid: s.pid, rateLimit: s.rateLimit, backlogLimit: s.backlogLimit, backlogWaitTime: s.backlogWaitTime };
  } finally {
    client.close();
  }
}

/** Put back what a failed test may have left: settings, and our registration. */
export async function restoreKernel(s: KernelSnapshot): Promise<void> {
  const client = await AuditClient.open();
  try {
    const now = await client.getStatus();
    if (now.pid === process.pid) await client.setPid(0);
    if (now.enabled !== s.enabled && s.enabled !== 2) await client.setEnabled(s.enabled as 0 | 1);
    if (now.backlogLimit !== s.backlogLimit) await client.setBacklogLimit(s.backlogLimit);
    if (now.rateLimit !== s.rateLimit) await client.setRateLimit(s.rateLimit);
    if (s.backlogWaitTime !== undefined && now.backlogWaitTime !== s.backlogWaitTime) await client.setBacklogWaitTime(s.backlogWaitTime);
    if (now.failure !== s.failure && s.failure !== 2) await client.setFailure(s.failure as 0 | 1);
  } finally {
    client.close();
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
let generator: string | undefined;

/** Build bench/gen/syscall-gen.c once per run (cc is there: node-gyp needs it). */
export function syscallGenerator(): string {
  if (generator) return generator;
  const dir = tempDir('linux-audit-gen-');
  const out = path.join(dir, 'syscall-gen');
  execFileSync('cc', ['-O2', '-o', out, path.resolve(here, '..', '..', 'bench', 'gen', 'syscall-gen.c')]);
  return (generator = out);
}

/** Open file descriptors and threads of this process. */
export function resources(): { fds: number; threads: number } {
  return { fds: fs.readdirSync('/proc/self/fd').length, threads: fs.readdirSync('/proc/self/task').length };
}

/**
 * resources() once it holds still: a joined thread stays in /proc/self/task
 * until the kernel has reaped it, a moment after pthread_join returns, so a
 * single reading can count a thread that is already gone (seen about once in
 * fifteen runs). Three equal readings 10 ms apart, within 2 s; a leaked
 * thread or descriptor never leaves, so leaks still show.
 */
export async function settledResources(): Promise<{ fds: number; threads: number }> {
  let last = resources();
  for (let same = 1, waited = 0; same < 3 && waited < 2000; waited += 10) {
    await new Promise((r) => setTimeout(r, 10));
    const now = resources();
    same = now.fds === last.fds && now.threads === last.threads ? same + 1 : 1;
    last = now;
  }
  return last;
}

/** Iterate until `done` says so or the deadline passes (the subscription is then closed); returns what arrived. */
export async function collect(sub: Subscription, done: (events: AuditEvent[]) => boolean, timeoutMs = 10_000): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  const timer = setTimeout(() => void sub.close(), timeoutMs);
  try {
    for await (const ev of sub) {
      events.push(ev);
      if (done(events)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return events;
}
