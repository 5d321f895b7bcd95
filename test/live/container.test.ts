import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { subscribe, type AuditEvent } from '../../lib/index.js';
import { addRules, deleteRules, describeLive, kernelSnapshot, restoreKernel, type KernelSnapshot } from '../helpers/live.js';

/**
 * Real cgroups named as each runtime names them, made on this machine's cgroup
 * filesystem: a child is moved into one, then execs; the event must carry the
 * container id and runtime read from /proc/<pid>/cgroup.
 */
const ID = (n: number) => `${n}`.padStart(8, '0') + 'c0ffee00'.repeat(7);
const POD = '3f1b5a42-8e3c-4d2a-9b0e-1c2d3e4f5a6b';

function mountOf(kind: string): string | undefined {
  // cgroup v1 hierarchies are mounted per controller, cgroup2 once.
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, where, type, opts] = line.split(' ');
    if (kind === 'cgroup2' && type === 'cgroup2') return where;
    if (kind !== 'cgroup2' && type === 'cgroup' && opts?.split(',').includes(kind)) return where;
  }
  return undefined;
}

const v1 = mountOf('pids');
const v2 = mountOf('cgroup2');

const LAYOUTS: Array<{ name: string; root: string | undefined; dirs: string[]; id: string; runtime: string; podUid?: string }> = [
  { name: 'docker, cgroupfs (v1)', root: v1, dirs: ['docker', ID(1)], id: ID(1), runtime: 'docker' },
  { name: 'docker, systemd (v2)', root: v2, dirs: ['la-test.slice', `docker-${ID(2)}.scope`], id: ID(2), runtime: 'docker' },
  {
    name: 'containerd CRI in a kubepods slice (v2)',
    root: v2,
    dirs: ['kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${POD.replace(/-/g, '_')}.slice`, `cri-containerd-${ID(3)}.scope`],
    id: ID(3),
    runtime: 'containerd',
    podUid: POD,
  },
  { name: 'podman (v2)', root: v2, dirs: ['la-test-machine.slice', `libpod-${ID(4)}.scope`], id: ID(4), runtime: 'podman' },
  { name: 'kubepods, cgroupfs (v1)', root: v1, dirs: ['kubepods', 'burstable', `pod${POD}`, ID(5)], id: ID(5), runtime: 'kubernetes', podUid: POD },
];

describeLive('containers from real cgroups', () => {
  let before: KernelSnapshot;
  const KEY = `la_ct_${process.pid}`;
  const made: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    before = await kernelSnapshot();
    addRules(KEY, [`-a always,exit -F arch=b64 -S execve -F ppid=${process.pid}`]);
  });

  afterAll(async () => {
    try {
      await Promise.all(
        children.map((c) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(undefined) : (c.once('exit', resolve), c.kill('SIGKILL'))))),
      );
      // Deepest first. Processes the children left (the shell's sleep) are
      // killed and moved back to the hierarchy's root, so the cgroup can go.
      for (const dir of made.reverse()) {
        const root = LAYOUTS.map((l) => l.root).find((r) => r !== undefined && dir.startsWith(r))!;
        try {
          for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
            process.kill(Number(pid), 'SIGKILL');
            fs.writeFileSync(path.join(root, 'cgroup.procs'), pid);
          }
          // A killed process leaves its cgroup only when its exit completes.
          for (let tries = 0; ; tries++) {
            try {
              fs.rmdirSync(dir);
              break;
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || tries >= 50) throw e;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        } catch (e) {
          console.error(`could not remove the test cgroup ${dir}: ${(e as Error).message}`);
        }
      }
    } finally {
      deleteRules(KEY);
      deleteRules(`${KEY}_chain`);
      await restoreKernel(before);
    }
  });

  it.each(LAYOUTS)('$name', async (layout) => {
    expect(layout.root, 'this machine mounts the cgroup hierarchy the layout needs').toBeDefined();
    let dir = layout.root!;
    for (const d of layout.dirs) {
      dir = path.join(dir, d);
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir);
        made.push(dir);
      }
    }
    const marker = `la-marker-${layout.id.slice(0, 8)}`;
    const child = spawn('/bin/sh', ['-c', `read go; exec /bin/sh -c 'sleep 2' ${marker}`], { stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(child);
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(child.pid));
    expect(fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toContain(layout.dirs.at(-1));

    const sub = subscribe({ mode: 'unicast', enable: true });
    await sub.ready;
    child.stdin!.write('go\n');
    let found: AuditEvent | undefined;
    let container: unknown;
    const timer = setTimeout(() => void sub.close(), 8000);
    for await (const ev of sub) {
      if (ev.keys.includes(KEY) && ev.argv?.includes(marker)) {
        found = ev;
        container = ev.container; // read at once: the process is alive now
        break;
      }
    }
    clearTimeout(timer);
    await sub.close();
    expect(found, 'the exec inside the cgroup').toBeDefined();
    expect(container).toMatchObject({ id: layout.id, runtime: layout.runtime, ...(layout.podUid && { podUid: layout.podUid }) });
  });

  it.each([false, true])('a three-level process chain shows its ancestry (trackProcesses: %s)', async (trackProcesses) => {
    // The chain's last exec has a shell for parent, so the rule cannot be limited by ppid here.
    addRules(`${KEY}_chain`, ['-a always,exit -F arch=b64 -S execve,clone,fork,vfork']);
    const sub = subscribe({ mode: 'unicast', enable: true, trackProcesses });
    await sub.ready;
    // node (this test) → sh A → sh B → sleep; "; true" keeps each shell from exec-ing its last command.
    const seconds = trackProcesses ? '1.4143' : '1.4142';
    const child = spawn('/bin/sh', ['-c', `/bin/sh -c '/bin/sleep ${seconds}; true' la-chain-b; true`], { stdio: 'ignore' });
    children.push(child);
    let ancestry: unknown;
    let found: AuditEvent | undefined;
    const timer = setTimeout(() => void sub.close(), 8000);
    for await (const ev of sub) {
      if (ev.argv?.[0] === '/bin/sleep' && ev.argv[1] === seconds) {
        found = ev;
        ancestry = ev.ancestry.map((p) => ({ pid: p.pid, exe: p.exe, argv: p.argv }));
        break;
      }
    }
    clearTimeout(timer);
    await sub.close();
    deleteRules(`${KEY}_chain`);
    expect(found, 'the exec of sleep at the end of the chain').toBeDefined();
    const chain = ancestry as Array<{ pid: number; exe: string; argv: string[] }>;
    expect(chain.slice(0, 3).map((p) => p.argv?.slice(0, 3))).toEqual([
      ['/bin/sh', '-c', `/bin/sleep ${seconds}; true`],
      ['/bin/sh', '-c', `/bin/sh -c '/bin/sleep ${seconds}; true' la-chain-b; true`],
      expect.arrayContaining([expect.stringMatching(/node|vitest/)]),
    ]);
    expect(chain[1].pid).toBe(child.pid);
    expect(chain[2].pid).toBe(process.pid);
    expect(chain[0].exe).toMatch(/dash|sh$/);
  });

  it('a host process has no container', async () => {
    const sub = subscribe({ mode: 'unicast', enable: true });
    await sub.ready;
    const child = spawn('/bin/sh', ['-c', `exec /bin/sh -c 'sleep 1' la-host-marker`], { stdio: 'ignore' });
    children.push(child);
    let container: unknown = 'not seen';
    const timer = setTimeout(() => void sub.close(), 8000);
    for await (const ev of sub) {
      if (ev.keys.includes(KEY) && ev.argv?.includes('la-host-marker')) {
        container = ev.container;
        break;
      }
    }
    clearTimeout(timer);
    await sub.close();
    expect(container).toBeNull();
  });
});
