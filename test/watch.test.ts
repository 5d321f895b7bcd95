// The watch's detectors and profiles without a kernel: events made from
// audit.log lines as the kernel writes them, the container given by the test.
import { tempDir } from './helpers/temp.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditEvent } from '../lib/assemble/event.js';
import { AuditRecord, parseLogLine } from '../lib/decode/record.js';
import type { ContainerInfo } from '../lib/enrich/container.js';
import { Detector } from '../lib/watch/detect.js';
import { HOST_ID, Profiles, WatchStateError } from '../lib/watch/profile.js';
import { watchRules } from '../lib/watch/rules.js';
import { parseRuleLine } from '../lib/rules/parse.js';
import { SyslogFormatter } from '../lib/sinks/syslog-message.js';
import { alertToText, type Alert } from '../lib/watch/alert.js';
import { AlertTuner } from '../lib/watch/tuning.js';
import { readWatchConfig } from '../lib/config/index.js';

const CID = 'ab'.repeat(32);
const DOCKER: ContainerInfo = { id: CID, runtime: 'docker', cgroup: `/system.slice/docker-${CID}.scope` };
const hex = (s: string): string => Buffer.from(s).toString('hex').toUpperCase();

let serial = 100;
/** An event of the records given as audit.log bodies (after `msg=audit(…):`), at `t` seconds. */
function event(t: number, ...records: Array<[string, string]>): AuditEvent {
  serial++;
  const rs = records.map(([type, body]) => parseLogLine(`type=${type} msg=audit(${1700000000 + t}.000:${serial}): ${body}`)!);
  const ev = new AuditEvent(rs[0]);
  ev.records.push(...rs.slice(1));
  return ev;
}

function syscall(t: number, nr: number, key: string, extra = '', success = 'yes', exit = '0', exe = '/usr/bin/app', comm = 'app'): [string, string] {
  return ['SYSCALL', `arch=c000003e syscall=${nr} success=${success} exit=${exit} a0=10 a1=4d2 a2=0 a3=0 items=0 ppid=1 pid=4242 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="${comm}" exe="${exe}"${extra} key="${key}"`];
}

const inet = (port: number, addr = [0, 0, 0, 0]): string => `0200${port.toString(16).padStart(4, '0')}${addr.map((b) => b.toString(16).padStart(2, '0')).join('')}0000000000000000`;

function detector(container: ContainerInfo | null | undefined, options: ConstructorParameters<typeof Profiles>[0] = { learn: { ms: 10_000 } }): Detector {
  return new Detector(new Profiles(options), () => container);
}

describe('container watch: detectors', () => {
  it('learns, then alerts once per new listening port; a known one stays quiet', () => {
    const d = detector(DOCKER);
    const bind = (t: number, port: number): AuditEvent => event(t, syscall(t, 49, 'la-watch-bind'), ['SOCKADDR', `saddr=${inet(port)}`]);
    expect(d.inspect(bind(0, 80))).toEqual([]); // learning
    expect(d.inspect(bind(20, 80))).toEqual([]); // known
    const [a] = d.inspect(bind(21, 8080));
    expect(a).toMatchObject({ kind: 'new-listening-port', severity: 'medium', item: 'ipv4 0.0.0.0:8080', container: { id: CID, runtime: 'docker' }, process: { pid: 4242, comm: 'app', uid: 0 } });
    expect(d.inspect(bind(22, 8080))).toEqual([]);
    expect(d.stats.alerts).toEqual({ 'new-listening-port': 1 });
  });

  it('learning ends by event count when that comes first', () => {
    const d = detector(DOCKER, { learn: { ms: 3_600_000, events: 2 } });
    const exec = (t: number, exe: string): AuditEvent => event(t, syscall(t, 59, 'la-watch-exec', '', 'yes', '0', exe));
    d.inspect(exec(0, '/bin/a'));
    d.inspect(exec(1, '/bin/b'));
    expect(d.inspect(exec(2, '/bin/c')).map((a) => [a.kind, a.item])).toEqual([['new-program', '/bin/c']]);
  });

  it('always-alerts: clock set (even failed), adjtimex only when it set something, modules, exec from /tmp and memfd', () => {
    const d = detector(DOCKER);
    const kinds = (ev: AuditEvent): string[] => d.inspect(ev).map((a) => a.kind);
    expect(kinds(event(0, syscall(0, 227, 'la-watch-time', '', 'no', '-1')))).toEqual(['clock-change']);
    // adjtimex that only read the clock (no TIME_* record): nothing.
    expect(kinds(event(1, syscall(1, 159, 'la-watch-time')))).toEqual([]);
    expect(kinds(event(2, syscall(2, 159, 'la-watch-time'), ['TIME_ADJNTPVAL', 'op=offset old=0 new=1']))).toEqual(['clock-change']);
    expect(d.inspect(event(3, syscall(3, 313, 'la-watch-module')))[0]).toMatchObject({ kind: 'kernel-module', severity: 'critical' });
    expect(kinds(event(4, syscall(4, 59, 'la-watch-exec', '', 'yes', '0', '/tmp/x')))).toEqual(['exec-from-writable-dir']);
    expect(kinds(event(5, syscall(5, 59, 'la-watch-exec', '', 'yes', '0', '/memfd:payload (deleted)')))).toEqual(['exec-from-writable-dir']);
  });

  it('escape signs count only from inside a container; the host does these all day', () => {
    const inside = detector(DOCKER);
    const host = detector(null);
    for (const [nr, key, kind] of [
      [308, 'la-watch-ns', 'namespace-change'],
      [42, 'la-watch-docker-sock', 'docker-socket-access'],
    ] as const) {
      expect(inside.inspect(event(0, syscall(0, nr, key))).map((a) => a.kind)).toEqual([kind]);
      expect(host.inspect(event(0, syscall(0, nr, key)))).toEqual([]);
    }
    expect(host.inspect(event(0, syscall(0, 165, 'la-watch-mount')))[0]).toMatchObject({ kind: 'mount', severity: 'medium', container: null });
    expect(inside.inspect(event(0, syscall(0, 165, 'la-watch-mount')))[0]).toMatchObject({ kind: 'mount', severity: 'high' });
  });

  it('events not asked for by the watch are passed over; an unknown container is not profiled but still alerts', () => {
    const d = detector(undefined);
    expect(d.inspect(event(0, syscall(0, 59, 'some-other-key')))).toEqual([]);
    expect(d.stats.watched).toBe(0);
    const [a] = d.inspect(event(1, syscall(1, 227, 'la-watch-time')));
    expect(a.kind).toBe('clock-change');
    expect('container' in a).toBe(false);
    expect(d.stats.unattributed).toBe(1);
    expect(d.profiles.size).toBe(0);
  });

  it('a full profile says so once, then counts', () => {
    const d = detector(DOCKER, { learn: { ms: 0 }, maxItemsPerKind: 2 });
    const kinds = (t: number, exe: string): string[] => d.inspect(event(t, syscall(t, 59, 'la-watch-exec', '', 'yes', '0', exe))).map((a) => a.kind);
    expect(kinds(0, '/bin/a')).toEqual(['new-program', 'new-user']);
    expect(kinds(1, '/bin/b')).toEqual(['new-program']);
    expect(kinds(2, '/bin/c')).toEqual(['profile-full']);
    expect(kinds(3, '/bin/d')).toEqual([]);
    expect(d.profiles.counts.overCap).toBe(2);
  });

  it("a runtime's setup of a container raises nothing (counted); the container's own mount and unshare afterwards do", () => {
    // As a real `docker run` shows it (test/live/engines.test.ts): the shim
    // execs runc on the host; runc's children join the container's cgroup,
    // unshare, mount and pivot_root, and the last execs the entrypoint.
    const where = new Map<number, ContainerInfo | null>([[100, null], [200, null], [300, DOCKER], [301, DOCKER], [400, null]]);
    const d = new Detector(new Profiles({ learn: { ms: 0 } }), (ev) => where.get(ev.pid!));
    const call = (t: number, nr: number, key: string, pid: number, ppid: number, exe: string, comm: string, success = 'yes'): Alert[] =>
      d.inspect(event(t, ['SYSCALL', syscall(t, nr, key, '', success, '0', exe, comm)[1].replace('ppid=1 pid=4242', `ppid=${ppid} pid=${pid}`)]));
    const kinds = (alerts: Alert[]): string[] => alerts.map((a) => a.kind);
    call(0, 59, 'la-watch-exec', 200, 100, '/usr/sbin/runc', 'runc'); // the shim runs runc
    expect(kinds(call(0, 165, 'la-watch-mount', 200, 100, '/usr/sbin/runc', 'runc'))).toEqual([]); // runc on the host
    expect(kinds(call(0, 165, 'la-watch-mount', 400, 1, '/usr/sbin/dockerd', 'dockerd'))).toEqual([]); // the engine's overlay
    expect(kinds(call(0, 272, 'la-watch-ns', 301, 200, '/', 'runc:[1:CHILD]'))).toEqual([]);
    expect(kinds(call(0, 165, 'la-watch-mount', 300, 200, '/', 'runc:[2:INIT]'))).toEqual([]);
    expect(kinds(call(0, 155, 'la-watch-ns', 300, 200, '/', 'runc:[2:INIT]'))).toEqual([]);
    // Under podman, conmon puts runc in the container's cgroup before runc re-executes itself there.
    // That exec is the runtime's too: no new program of the container's, and none learned.
    where.set(310, DOCKER);
    expect(kinds(call(0, 59, 'la-watch-exec', 310, 200, '/usr/sbin/runc', 'exe'))).toEqual([]);
    expect(kinds(call(0, 165, 'la-watch-mount', 310, 200, '/usr/sbin/runc', 'exe'))).toEqual([]);
    expect(d.stats.runtimeSetup).toBe(7);
    // The same path exec'd by a process whose parent is not a runtime is the container's own program.
    where.set(311, DOCKER);
    expect(kinds(call(0, 59, 'la-watch-exec', 311, 300, '/usr/sbin/runc', 'runc'))).toContain('new-program');
    expect(kinds(call(0, 165, 'la-watch-mount', 311, 300, '/usr/sbin/runc', 'runc'))).toEqual(['mount']);
    // The entrypoint runs; from now on pid 300 is the container's own, whatever it calls itself.
    call(1, 59, 'la-watch-exec', 300, 200, '/bin/sh', 'sh');
    expect(kinds(call(1, 165, 'la-watch-mount', 300, 200, '/bin/sh', 'runc:[2:INIT]'))).toEqual(['mount']);
    expect(kinds(call(1, 272, 'la-watch-ns', 300, 200, '/bin/sh', 'runc:[2:INIT]'))).toEqual(['namespace-change']);
    // A process inside cannot make a host runtime its parent: one whose parent is not a runtime the stream saw alerts.
    where.set(302, DOCKER);
    expect(kinds(call(2, 165, 'la-watch-mount', 302, 300, '/', 'runc:[2:INIT]'))).toEqual(['mount']);
    // A program named like the engine's, but in a container or not where packages put it, is not the engine.
    expect(kinds(call(2, 165, 'la-watch-mount', 302, 300, '/usr/sbin/dockerd', 'dockerd'))).toEqual(['mount']);
    where.set(401, null);
    expect(kinds(call(2, 165, 'la-watch-mount', 401, 1, '/tmp/dockerd', 'dockerd'))).toEqual(['mount']);
    expect(d.stats.runtimeSetup).toBe(7);
  });

  it('a call seccomp refused, reported in a SECCOMP record (no syscall rule sees it), is the attempt it stands for; one seccomp only logged is left to its syscall record', () => {
    // Records as the kernel wrote them here for a container whose profile logs clock_settime and kills on mount.
    const seccomp = (t: number, nr: number, code: string, comm: string): AuditEvent =>
      event(t, ['SECCOMP', `auid=4294967295 uid=0 gid=0 ses=4294967295 pid=5393 comm="${comm}" exe="/bin/busybox" sig=31 arch=c000003e syscall=${nr} compat=0 ip=0x48153a code=${code}`]);
    const inside = detector(DOCKER);
    const [mount] = inside.inspect(seccomp(0, 165, '0x80000000', 'mount'));
    expect(mount).toMatchObject({ kind: 'mount', severity: 'high', container: { id: CID }, process: { pid: 5393, comm: 'mount', exe: '/bin/busybox' } });
    expect(mount.reason).toBe(`mount (pid 5393) in container ${CID.slice(0, 12)} (docker) tried mount, which its seccomp filter refused (kill-process)`);
    expect(inside.inspect(seccomp(1, 227, '0x50001', 'date')).map((a) => [a.kind, a.severity])).toEqual([['clock-change', 'high']]);
    expect(inside.inspect(seccomp(2, 227, '0x7ffc0000', 'date'))).toEqual([]); // logged, then the kernel refused it: the SYSCALL record alerts
    expect(inside.inspect(seccomp(3, 0, '0x80000000', 'cat'))).toEqual([]); // read: not one of the watch's
    expect(detector(null).inspect(seccomp(4, 272, '0x50001', 'svc'))).toEqual([]); // unshare on the host
    expect(inside.inspect(seccomp(5, 272, '0x50001', 'sh')).map((a) => a.kind)).toEqual(['namespace-change']);
  });

  it('hostile names reach the reason escaped on a terminal, and syslog gets the mapped severity', () => {
    const d = detector(DOCKER, { learn: { ms: 0 } });
    const ev = event(0, ['SYSCALL', `arch=c000003e syscall=59 success=yes exit=0 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=7 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=${hex('x\x1b[2J')} exe=${hex('/tmp/a\nb')} key="la-watch-exec"`]);
    const alerts = d.inspect(ev);
    const text = alerts.map(alertToText).join('\n');
    expect(text.split('\n')).toHaveLength(alerts.length);
    expect(text).not.toMatch(/\x1b/);
    expect(text).toContain('/tmp/a\\nb');
    const f = new SyslogFormatter({ hostname: 'h' });
    const writable = alerts.find((a) => a.kind === 'exec-from-writable-dir')!;
    expect(f.alertMessage(writable)).toMatch(/^<11>1 \S+ h linux-audit \d+ exec-from-writable-dir \[linux-audit-alert@32473 kind="exec-from-writable-dir" severity="high" container="[0-9a-f]{64}" item="\/tmp\/a\\nb" pid="7"\] \{/);
  });
});

describe('container watch: profiles by image, and forgotten with age', () => {
  it('profileBy image: replicas share what was learned; a container whose image is not known has its own', () => {
    const a: ContainerInfo = { ...DOCKER, id: 'a'.repeat(64), image: 'shop/cart:1.4' };
    const b: ContainerInfo = { ...DOCKER, id: 'b'.repeat(64), image: 'shop/cart:1.4' };
    const c: ContainerInfo = { ...DOCKER, id: 'c'.repeat(64) };
    let now: ContainerInfo = a;
    const d = new Detector(new Profiles({ learn: { ms: 10_000 } }), () => now, { profileBy: 'image' });
    const exec = (t: number, exe: string): Alert[] => d.inspect(event(t, syscall(t, 59, 'la-watch-exec', '', 'yes', '0', exe)));
    expect(exec(0, '/usr/bin/cart')).toEqual([]); // a learns for the image
    now = b;
    expect(exec(20, '/usr/bin/cart')).toEqual([]); // a new replica: known
    const [alert] = exec(21, '/bin/sh');
    expect(alert).toMatchObject({ kind: 'new-program', container: { id: b.id, image: 'shop/cart:1.4' } });
    expect(alert.reason).toBe(`app (pid 4242) in container ${b.id.slice(0, 12)} (docker) ran /bin/sh, which image shop/cart:1.4 had never run`);
    now = c;
    expect(exec(22, '/bin/sh')).toEqual([]); // its own profile, learning
    expect(d.profiles.ids().sort()).toEqual([c.id, 'image:shop/cart:1.4']);
  });

  it('profiles of containers not seen for forgetAfterMs are forgotten, the host never; lastSeen survives a restart', () => {
    const dir = tempDir('la-watch-age-');
    const p = new Profiles({ learn: { ms: 0 }, forgetAfterMs: 3_600_000 });
    p.see(CID, 'docker', 'web', 0);
    p.see(HOST_ID, 'host', undefined, 0);
    p.see('d'.repeat(64), 'docker', undefined, 3_000_000);
    p.see(HOST_ID, 'host', undefined, 3_700_000);
    expect(p.ids().sort()).toEqual(['d'.repeat(64), HOST_ID]);
    expect(p.counts.expired).toBe(1);
    const file = path.join(dir, 'state.json');
    p.save(file);
    const q = new Profiles({ forgetAfterMs: 3_600_000 });
    q.load(file);
    expect(q.get('d'.repeat(64))!.lastSeen).toBe(3_000_000);
    q.see(HOST_ID, 'host', undefined, 6_700_000);
    expect(q.ids()).toEqual([HOST_ID]);
  });
});

describe('container watch: profiles on disk', () => {
  it('saves atomically with mode 0600 and reads back; a foreign version is refused with what to do', () => {
    const dir = tempDir('la-watch-unit-');
    try {
      const file = path.join(dir, 'sub', 'state.json');
      const p = new Profiles({ learn: { ms: 0 } });
      const prof = p.see(CID, 'docker', 'web', 1000)!;
      p.note(prof, 'listening', 'ipv4 0.0.0.0:80');
      p.save(file);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const q = new Profiles();
      q.load(file);
      expect(q.get(CID)).toMatchObject({ runtime: 'docker', name: 'web', learning: false });
      expect([...q.get(CID)!.items.listening]).toEqual(['ipv4 0.0.0.0:80']);
      fs.writeFileSync(file, JSON.stringify({ version: 99, containers: {} }));
      expect(() => new Profiles().load(file)).toThrow(WatchStateError);
      expect(() => new Profiles().load(file)).toThrow(/version 99, this linux-audit reads version 1; move it aside/);
      fs.writeFileSync(file, '{not json');
      expect(() => new Profiles().load(file)).toThrow(/is not JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the watch rules all parse, each detector has its key, and a missing directory is skipped with the reason', () => {
    const { rules, skipped } = watchRules({ machine: 'x86_64', directoryExists: (d) => d !== '/etc/sysconfig' });
    for (const r of rules) expect(parseRuleLine(r)?.kind).toBe('add');
    for (const key of ['exec', 'bind', 'connect', 'time', 'module', 'mount', 'ptrace', 'ns', 'docker-config', 'docker-sock']) {
      expect(rules.some((r) => r.endsWith(`la-watch-${key}`))).toBe(true);
    }
    expect(skipped).toEqual([{ rule: '-w /etc/sysconfig/docker -p wa -k la-watch-docker-config', reason: expect.stringContaining('/etc/sysconfig does not exist') }]);
  });

  it('a record that is not the SYSCALL record first still finds the key', () => {
    const d = detector(DOCKER, { learn: { ms: 0 } });
    const ev = new AuditEvent(AuditRecord.fromText(1302, `audit(1700000000.000:9): item=0 name="/tmp/x" nametype=NORMAL`));
    ev.records.push(parseLogLine(`type=SYSCALL msg=audit(1700000000.000:9): ${syscall(0, 59, 'la-watch-exec', '', 'yes', '0', '/tmp/x')[1]}`)!);
    expect(d.inspect(ev).map((a) => a.kind)).toContain('exec-from-writable-dir');
  });
});

describe('container watch: tuning', () => {
  const NTP: ContainerInfo = { ...DOCKER, name: 'chrony', image: 'registry/ntp:4.2' };
  const clock = (t: number, exe = '/usr/sbin/chronyd', comm = 'chronyd'): AuditEvent => event(t, syscall(t, 227, 'la-watch-time', '', 'yes', '0', exe, comm));
  const exec = (t: number, exe: string): AuditEvent => event(t, syscall(t, 59, 'la-watch-exec', '', 'yes', '0', exe));

  it('allow rules by kind, exe, container, image (prefix) and item: a match is not sent, and counted', () => {
    const host = detector(null);
    const ntp = detector(NTP);
    const tuner = new AlertTuner({
      throttleMs: 0,
      allow: [
        { kind: 'clock-change', exe: 'chronyd', container: 'host' },
        { kind: ['clock-change'], image: 'registry/ntp:*' },
      ],
    });
    expect(tuner.apply(host.inspect(clock(0)), 0)).toEqual([]);
    expect(tuner.apply(ntp.inspect(clock(1)), 1000)).toEqual([]);
    // Another program setting the clock on the host is still an alert.
    expect(tuner.apply(host.inspect(clock(2, '/usr/bin/date', 'date')), 2000).map((a) => a.kind)).toEqual(['clock-change']);
    expect(tuner.stats).toEqual({ disabled: 0, allowed: 2, throttled: 0 });
  });

  it('a detector off raises nothing; another severity replaces the detector\'s', () => {
    const d = detector(DOCKER);
    const tuner = new AlertTuner({ throttleMs: 0, detectors: { 'exec-from-writable-dir': { enabled: false }, 'clock-change': { severity: 'critical' } } });
    expect(tuner.apply(d.inspect(exec(0, '/tmp/x')), 0).map((a) => a.kind)).toEqual([]);
    expect(tuner.apply(d.inspect(clock(1)), 1000).map((a) => [a.kind, a.severity])).toEqual([['clock-change', 'critical']]);
    expect(tuner.stats.disabled).toBe(1);
  });

  it('the same kind, container and item once per window; the next one says how many were held back', () => {
    const d = detector(DOCKER);
    const tuner = new AlertTuner({ throttleMs: 60_000 });
    const sent = (t: number): Alert[] => tuner.apply(d.inspect(clock(t)), t * 1000);
    expect(sent(0)).toHaveLength(1);
    for (let t = 1; t <= 5; t++) expect(sent(t)).toEqual([]);
    const [next] = sent(61);
    expect(next.suppressed).toBe(5);
    expect(alertToText(next)).toMatch(/\(5 more like it held back\)$/);
    // Another item is its own.
    expect(tuner.apply(d.inspect(exec(62, '/tmp/a')), 62_000).map((a) => a.kind)).toEqual(['exec-from-writable-dir', 'new-program']);
    expect(tuner.stats.throttled).toBe(5);
  });

  it('retuned (SIGHUP): the new detectors apply from the next alert, the throttle remembers, a mistake keeps the running tuning', () => {
    const d = detector(DOCKER);
    const tuner = new AlertTuner({ throttleMs: 60_000, detectors: { 'clock-change': { enabled: false } } });
    expect(tuner.apply(d.inspect(clock(0)), 0)).toEqual([]);
    tuner.retune({ throttleMs: 60_000 });
    expect(tuner.apply(d.inspect(clock(1)), 1000).map((a) => a.kind)).toEqual(['clock-change']);
    expect(() => tuner.retune({ allow: [{}] })).toThrow(/allow\[0\]: an empty rule/);
    // Still the second tuning: the throttle holds the repeat it saw before the failed retune.
    expect(tuner.apply(d.inspect(clock(2)), 2000)).toEqual([]);
    expect(tuner.stats).toEqual({ disabled: 1, allowed: 0, throttled: 1 });
  });

  it('the tuning file is checked key by key', () => {
    const dir = tempDir('linux-audit-tuning-');
    const file = path.join(dir, 'watch.json');
    const read = (json: unknown): string => {
      fs.writeFileSync(file, JSON.stringify(json));
      try {
        readWatchConfig(file);
        return 'ok';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(read({ allow: [{ kind: 'clock-change', exe: '/usr/sbin/chronyd' }], detectors: { mount: { severity: 'low' } }, throttleSeconds: 30 })).toBe('ok');
    expect(read({ allow: [{ kind: 'clock-chnage' }] })).toMatch(/allow\[0\]\.kind: expected one of new-program, .*got "clock-chnage"/);
    expect(read({ allow: [{}] })).toMatch(/allow\[0\]: an empty rule would allow every alert/);
    expect(read({ detectors: { mount: { enabled: 'no' } } })).toMatch(/detectors\.mount\.enabled: expected true or false/);
    expect(read({ detectors: { nope: {} } })).toMatch(/detectors\.nope: unknown key/);
    fs.rmSync(dir, { recursive: true });
  });
});
