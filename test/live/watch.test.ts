// The container watch on the real kernel. Containers are real cgroups named as
// Docker, containerd and podman name them (made here, removed after); the
// "container" is a python3 process moved into one, doing what the test tells
// it on stdin: bind a port, exec a program, try to set the clock.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { alertToJSON, subscribe, watch, type Alert, type Watch } from '../../lib/index.js';
import { CliProcess } from '../helpers/cli.js';
import { Rsyslog } from '../helpers/rsyslog.js';
import { auditctl, describeLive, kernelSnapshot, restoreKernel, type KernelSnapshot } from '../helpers/live.js';

const ID = (n: number): string => `${n}`.padStart(8, '0') + 'c0ffee00'.repeat(7);

function cgroup2Root(): string | undefined {
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, where, type] = line.split(' ');
    if (type === 'cgroup2') return where;
  }
  return undefined;
}

const LAYOUTS = [
  { runtime: 'docker', dirs: ['la-watch-test.slice', `docker-${ID(11)}.scope`], id: ID(11) },
  { runtime: 'containerd', dirs: ['la-watch-test.slice', `cri-containerd-${ID(12)}.scope`], id: ID(12) },
  { runtime: 'podman', dirs: ['la-watch-test.slice', `libpod-${ID(13)}.scope`], id: ID(13) },
];

/** A process that does what it is told, one line at a time, and answers "ok" or "err <errno>". */
const ACTOR = `
import ctypes, os, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
print("ready", os.getpid(), flush=True)
class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    try:
        if cmd == "bind":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", int(arg)))
            s.listen(1)
            s.close()
        elif cmd == "exec":
            subprocess.run([arg], check=False)
        elif cmd == "clock":
            # A clock that does not exist: the kernel refuses it (EINVAL) and sets
            # nothing; the attempt is the alert. (An invalid time would be refused
            # by glibc before any syscall.)
            r = libc.clock_settime(4242, ctypes.byref(timespec(1, 0)))
            if r == 0:
                raise RuntimeError("clock_settime succeeded")
        print("ok", flush=True)
    except Exception as e:
        print("err", e, flush=True)
`;

class Actor {
  readonly child: ChildProcess;
  /** The python process's own pid (a python3 on PATH may be a wrapper that forks it). */
  pid = 0;
  private out = '';
  private answers = 0;

  constructor() {
    this.child = spawn(fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-c', ACTOR], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
  }

  async ready(): Promise<void> {
    const end = Date.now() + 10_000;
    while (!/^ready \d+\n/.test(this.out)) {
      if (Date.now() > end) throw new Error(`the actor did not start: ${this.out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    this.pid = Number(/^ready (\d+)/.exec(this.out)![1]);
    this.out = this.out.slice(this.out.indexOf('\n') + 1);
  }

  /** Send one command and wait for its answer. */
  async do(command: string): Promise<void> {
    const want = ++this.answers;
    this.child.stdin!.write(command + '\n');
    const end = Date.now() + 10_000;
    for (;;) {
      const lines = this.out.split('\n').filter(Boolean);
      if (lines.length >= want) {
        if (lines[want - 1] !== 'ok') throw new Error(`${command}: ${lines[want - 1]}`);
        return;
      }
      if (Date.now() > end) throw new Error(`${command}: no answer`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  kill(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}

/** Alerts as they arrive, and a wait for the ones a test expects. */
class Alerts {
  readonly all: Alert[] = [];
  private readonly done: Promise<void>;

  constructor(readonly w: Watch) {
    this.done = (async () => {
      for await (const a of w) this.all.push(a);
    })();
  }

  async waitFor(test: (a: Alert) => boolean, what: string, ms = 10_000): Promise<Alert> {
    const end = Date.now() + ms;
    for (;;) {
      const a = this.all.find(test);
      if (a) return a;
      if (Date.now() > end) throw new Error(`no ${what} alert; got: ${JSON.stringify(this.all.map((x) => [x.kind, x.container?.id.slice(0, 8) ?? x.container, x.item]))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Let whatever is still coming arrive: the kernel's records take a moment, the watch's reading another. */
  settle(ms = 1000): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  async close(): Promise<void> {
    await this.w.close();
    await this.done;
  }
}

describeLive(
  'container watch on the real kernel',
  () => {
    let before: KernelSnapshot;
    let rulesBefore: string;
    let dir: string;
    let root: string;
    const made: string[] = [];
    const actors: Actor[] = [];
    const open: Alerts[] = [];

    function container(layout: (typeof LAYOUTS)[number]): string {
      let d = root;
      for (const part of layout.dirs) {
        d = path.join(d, part);
        if (!fs.existsSync(d)) {
          fs.mkdirSync(d);
          made.push(d);
        }
      }
      return d;
    }

    /** An actor in the layout's cgroup, or on the host. */
    async function actor(layout?: (typeof LAYOUTS)[number]): Promise<Actor> {
      const a = new Actor();
      actors.push(a);
      await a.ready();
      if (layout) {
        fs.writeFileSync(path.join(container(layout), 'cgroup.procs'), String(a.pid));
        // The watch may have seen this pid on the host (its exec): profile
        // events trust that answer up to a second (docs/watch.md).
        await new Promise((r) => setTimeout(r, 1100));
      }
      return a;
    }

    function start(options: Parameters<typeof watch>[0]): Alerts {
      const a = new Alerts(watch(options));
      open.push(a);
      return a;
    }

    beforeAll(async () => {
      before = await kernelSnapshot();
      rulesBefore = auditctl('-l');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-watch-'));
      root = cgroup2Root()!;
      expect(root, 'this machine mounts cgroup2').toBeDefined();
    });

    afterEach(async () => {
      for (const a of open.splice(0)) await a.close();
      for (const a of actors.splice(0)) await a.kill();
      await CliProcess.killAll();
      // A command a failed test SIGKILLed left its rules: a start undoes them from its journal.
      const cleaner = subscribe({ mode: 'multicast' });
      await cleaner.ready;
      await cleaner.close();
      await restoreKernel(before);
    });

    afterAll(async () => {
      for (const d of made.reverse()) {
        for (let tries = 0; ; tries++) {
          try {
            fs.rmdirSync(d);
            break;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || tries >= 50) {
              console.error(`could not remove the test cgroup ${d}: ${(e as Error).message}`);
              break;
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
      await restoreKernel(before);
    });

    it('learns a container, then alerts once per new port and program; a restart keeps the profile; the host is not blamed on it', async () => {
      const docker = LAYOUTS[0];
      const state = path.join(dir, 'state.json');
      const [A, B, C, D] = [47101, 47102, 47103, 47104];
      const learnMs = 2500;
      let alerts = start({ statePath: state, learn: { ms: learnMs } });
      await alerts.w.ready;
      const inside = await actor(docker);
      const host = await actor();

      // Learning: port A and /bin/true are the container's normal.
      const learningFrom = Date.now();
      await inside.do(`bind ${A}`);
      await inside.do('exec /bin/true');
      await host.do('exec /bin/true');
      await new Promise((r) => setTimeout(r, learningFrom + learnMs + 500 - Date.now()));

      // After learning.
      await inside.do(`bind ${B}`);
      await inside.do(`bind ${A}`);
      await inside.do('exec /bin/false');
      const port = await alerts.waitFor((a) => a.kind === 'new-listening-port' && a.container?.id === docker.id, 'new-listening-port');
      const program = await alerts.waitFor((a) => a.kind === 'new-program' && a.container?.id === docker.id, 'new-program');
      await inside.do(`bind ${B}`); // known now: no second alert
      await alerts.settle();
      const mine = alerts.all.filter((a) => a.container?.id === docker.id);
      expect(mine.map((a) => [a.kind, a.item])).toEqual([
        ['new-listening-port', `ipv4 127.0.0.1:${B}`],
        ['new-program', fs.realpathSync('/bin/false')],
      ]);
      expect(port).toMatchObject({ severity: 'medium', container: { id: docker.id, runtime: 'docker' }, process: { comm: 'python3', uid: 0, user: 'root' } });
      expect(port.reason).toContain(`bound ipv4 127.0.0.1:${B}`);
      expect(program.event.argv).toEqual(['/bin/false']);
      // JSON as documented: the event in its schema shape, no live object.
      const json = JSON.parse(JSON.stringify(alertToJSON(port))) as { event: { keys: string[] } };
      expect(json.event.keys).toEqual(['la-watch-bind']);

      await alerts.close();
      open.length = 0;
      const saved = JSON.parse(fs.readFileSync(state, 'utf8')) as { version: number; containers: Record<string, { listening: string[]; programs: string[] }> };
      expect(fs.statSync(state).mode & 0o777).toBe(0o600);
      expect(saved.version).toBe(1);
      expect(saved.containers[docker.id].listening.sort()).toEqual([`ipv4 127.0.0.1:${A}`, `ipv4 127.0.0.1:${B}`]);

      // A restart with the same state: B is known, C is new; the host's own bind stays the host's.
      alerts = start({ statePath: state, learn: { ms: learnMs } });
      await alerts.w.ready;
      await inside.do(`bind ${B}`);
      await inside.do(`bind ${C}`);
      await host.do(`bind ${D}`);
      await alerts.waitFor((a) => a.kind === 'new-listening-port' && a.item === `ipv4 127.0.0.1:${C}`, 'new-listening-port for C');
      const hostBind = await alerts.waitFor((a) => a.kind === 'new-listening-port' && a.item === `ipv4 127.0.0.1:${D}`, 'the host bind');
      await alerts.settle();
      expect(alerts.all.filter((a) => a.container?.id === docker.id).map((a) => a.item)).toEqual([`ipv4 127.0.0.1:${C}`]);
      expect(hostBind.container).toBeNull();
      expect(alerts.all.some((a) => a.container?.id === docker.id && a.process.pid === host.pid)).toBe(false);
    });

    it.each(LAYOUTS)('a failed clock_settime in a $runtime container raises clock-change at once, learning or not', async (layout) => {
      const alerts = start({ learn: { ms: 60_000 } });
      await alerts.w.ready;
      const inside = await actor(layout);
      await inside.do('clock');
      const a = await alerts.waitFor((x) => x.kind === 'clock-change' && x.process.pid === inside.pid, 'clock-change');
      expect(a).toMatchObject({ severity: 'high', container: { id: layout.id, runtime: layout.runtime } });
      expect(a.reason).toMatch(/tried to set \(clock_settime failed: .*EINVAL.*\) the system clock/);
      expect(a.event.syscall).toMatchObject({ success: 'no' });
    });

    it('watch --to rsyslog: alerts arrive with the severity their kind maps to; the kernel is as it was after', async () => {
      const rsyslog = new Rsyslog();
      try {
        await rsyslog.start();
        const state = path.join(dir, 'cli-state.json');
        const w = new CliProcess(['watch', '--to', `tcp://127.0.0.1:${rsyslog.ports.tcp}`, '--learn', '1s', '--state', state]);
        await w.waitFor((p) => p.stderr.includes('watching in'), 'the watch to start');
        const inside = await actor(LAYOUTS[0]);
        await inside.do('clock');
        await inside.do('exec /bin/true');
        await new Promise((r) => setTimeout(r, 1500));
        await inside.do('exec /bin/false');
        const end = Date.now() + 10_000;
        const lines = (): ReturnType<Rsyslog['lines']> => rsyslog.lines().filter((l) => l.sd.includes(`container="${LAYOUTS[0].id}"`));
        while (Date.now() < end && !(lines().some((l) => l.msgid === 'clock-change') && lines().some((l) => l.msgid === 'new-program'))) await new Promise((r) => setTimeout(r, 50));
        const clock = lines().find((l) => l.msgid === 'clock-change');
        const program = lines().find((l) => l.msgid === 'new-program');
        expect(clock?.severity).toBe('err');
        expect(clock?.sd).toMatch(/^\[linux-audit-alert@32473 kind="clock-change" severity="high" container="[0-9a-f]{64}" pid="\d+"\]$/);
        expect(program?.severity).toBe('warning');
        expect(JSON.parse(program!.msg)).toMatchObject({ kind: 'new-program', item: fs.realpathSync('/bin/false'), container: { id: LAYOUTS[0].id } });
        w.child.kill('SIGTERM');
        expect(await w.exited).toBe(0);
        expect(w.stderr).toMatch(/linux-audit watch: \d+ profiles \(\d+ learning\)/);
        expect(await kernelSnapshot()).toEqual(before);
        expect(auditctl('-l')).toBe(rulesBefore);
      } finally {
        await rsyslog.stop();
        await rsyslog.cleanup();
      }
    });

    it('watch --config: SIGHUP reads the tuning again (a detector turned back on alerts), a broken file is refused in one line', async () => {
      const state = path.join(dir, 'hup-state.json');
      const tuning = path.join(dir, 'hup-tuning.json');
      fs.writeFileSync(tuning, JSON.stringify({ detectors: { 'clock-change': { enabled: false } } }));
      const w = new CliProcess(['watch', '--to', 'stdout:json', '--learn', '1s', '--state', state, '--config', tuning]);
      await w.waitFor((p) => p.stderr.includes('watching in'), 'the watch to start');
      const inside = await actor(LAYOUTS[1]);
      const clocks = (): number => w.stdout.split('\n').filter((l) => l.includes('"clock-change"') && l.includes(LAYOUTS[1].id)).length;
      await inside.do('clock');
      // The call is seen and not sent: the summary (SIGUSR1) counts it as a detector's that is off.
      await w.waitFor((p) => {
        p.child.kill('SIGUSR1');
        return p.stderr.includes('detectors off 1;');
      }, 'the clock call counted as not sent');
      expect(clocks()).toBe(0);
      fs.writeFileSync(tuning, JSON.stringify({ detectors: { 'clock-change': { severity: 'critical' } } }));
      w.child.kill('SIGHUP');
      await w.waitFor((p) => p.stderr.includes('linux-audit watch: reloaded'), 'the reload');
      await inside.do('clock');
      await w.waitFor(() => clocks() === 1, 'the clock-change alert after the reload');
      expect(JSON.parse(w.stdout.split('\n').find((l) => l.includes('"clock-change"'))!)).toMatchObject({ kind: 'clock-change', severity: 'critical' });
      fs.writeFileSync(tuning, JSON.stringify({ allow: [{}] }));
      w.child.kill('SIGHUP');
      await w.waitFor((p) => p.stderr.includes('the running tuning is kept'), 'the refusal');
      expect(w.stderr).toMatch(/linux-audit watch: SIGHUP: \S+hup-tuning\.json: allow\[0\]: an empty rule would allow every alert.*; the running tuning is kept\n/);
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      expect(w.stderr).toMatch(/not sent: allowed 0, throttled 0, detectors off 1;/);
    });

    it('watch --reset forgets one container, or all', () => {
      const state = path.join(dir, 'reset.json');
      const profile = { runtime: 'docker', firstSeen: 0, learnUntil: 0, learnedEvents: 0, learning: false, programs: ['/bin/sh'], listening: [], destinations: [], users: [] };
      fs.writeFileSync(state, JSON.stringify({ version: 1, savedAt: '', containers: { [ID(21)]: profile, [ID(22)]: profile, host: { ...profile, runtime: 'host' } } }));
      const cli = (args: string[]): string => spawnSync(process.execPath, [path.resolve('dist/cli/main.js'), 'watch', ...args, '--state', state], { encoding: 'utf8' }).stdout;
      expect(cli(['--reset', ID(21).slice(0, 12)])).toBe(`forgot 1 profile: ${ID(21)}\n`);
      expect(Object.keys(JSON.parse(fs.readFileSync(state, 'utf8')).containers).sort()).toEqual([ID(22), 'host'].sort());
      expect(cli(['--reset'])).toBe(`forgot 2 profiles: ${ID(22)}, host\n`);
      expect(JSON.parse(fs.readFileSync(state, 'utf8')).containers).toEqual({});
    });
  },
  { python3: 'python3', rsyslogd: 'rsyslog' },
);
