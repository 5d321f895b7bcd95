// The reader thread's assembler (native/assembler.cc), without a kernel,
// through its harness: grouping, bounds, what the index says about each event,
// the filters, and the routing of replies. The batches are read back with the
// library's own reader (lib/assemble/batch.ts), as a subscription reads them.
import { tempDir } from './helpers/temp.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLogLine } from '../lib/decode/record.js';
import { EVENT_WORDS } from '../lib/assemble/batch.js';
import { CGROUP_GONE, CGROUP_PARENT, CGROUP_RUNTIME_PARENT, CGROUP_SELF, ContainerResolver } from '../lib/enrich/container.js';
import { RECORD_TYPES } from '../lib/constants/index.js';
import { logLines, readCorpus } from './helpers/corpus.js';
import { assembleNative, nativePoolCheck, recordDatagram, type Step } from './helpers/native-assembler.js';

const rec = (type: string, serial: number, body = 'a=1'): Step => ({ datagram: recordDatagram(RECORD_TYPES[type], `audit(1700000000.123:${serial}): ${body}`) });

describe('native assembly', () => {
  it('groups go-libaudit reassembler cases as go-libaudit does (5 in flight), and counts their lost serials', () => {
    const expected = JSON.parse(readCorpus('go-libaudit/reassembler/expected.json')) as {
      settings: { max_in_flight: number; timeout_seconds: number };
      cases: Record<string, { lost: number; events: Array<{ seq: number; count: number }> }>;
    };
    for (const [file, want] of Object.entries(expected.cases)) {
      const steps: Step[] = logLines('go-libaudit/reassembler', file)
        .filter((l) => l.startsWith('type='))
        .map((l) => {
          const r = parseLogLine(l)!;
          return { datagram: recordDatagram(r.type, r.text) };
        });
      const { events, stats } = assembleNative([...steps, 'flush'], [`maxInFlight=${expected.settings.max_in_flight}`]);
      expect(events.map((e) => ({ seq: e.serial, count: e.records.length })), file).toEqual(want.events);
      expect(stats.serialGaps, file).toBe(want.lost);
    }
  });

  it('ends a syscall event at EOE and not before, with another interleaved', () => {
    const { events, stats } = assembleNative([rec('SYSCALL', 10), rec('SYSCALL', 11), rec('CWD', 10), rec('PATH', 11), rec('EOE', 11), 'publish', rec('PATH', 10), rec('EOE', 10)]);
    expect(events.map((e) => [e.serial, e.types, e.incomplete])).toEqual([
      [11, ['SYSCALL', 'PATH'], false],
      [10, ['SYSCALL', 'CWD', 'PATH'], false],
    ]);
    expect(events[0].time).toBe(1700000000123);
    expect(stats).toMatchObject({ records: 7, events: 2, incomplete: 0, inFlight: 0 });
  });

  it('keys events on serial and time, as ausearch does: the same serial at another time is another event', () => {
    const at = (type: string, time: string, serial: number): Step => ({ datagram: recordDatagram(RECORD_TYPES[type], `audit(${time}:${serial}): a=1`) });
    const { events, stats } = assembleNative([at('SYSCALL', '1700000000.123', 7), at('CWD', '1700000000.123', 7), at('SYSCALL', '1700000001.623', 7), at('EOE', '1700000000.123', 7), at('EOE', '1700000001.623', 7)]);
    expect(events.map((e) => [e.serial, e.time, e.types, e.incomplete])).toEqual([
      [7, 1700000000123, ['SYSCALL', 'CWD'], true],
      [7, 1700000001623, ['SYSCALL'], false],
    ]);
    expect(stats).toMatchObject({ strayEndOfEvent: 1, inFlight: 0 });
  });

  it('hands out user-space messages at once, and counts an EOE that ends nothing', () => {
    const { events, stats } = assembleNative([rec('USER_LOGIN', 5), rec('ANOM_LOGIN_FAILURES', 6), rec('EOE', 7)]);
    expect(events.map((e) => e.serial)).toEqual([5, 6]);
    expect(stats).toMatchObject({ inFlight: 0, strayEndOfEvent: 1 });
  });

  it('past maxInFlight hands out the oldest, incomplete only if the kernel would have ended it with EOE', () => {
    const { events, stats } = assembleNative([rec('CONFIG_CHANGE', 1), rec('SYSCALL', 2), rec('SYSCALL', 3), 'flush'], ['maxInFlight=1']);
    expect(events.map((e) => [e.serial, e.incomplete])).toEqual([
      [1, false], // a CONFIG_CHANGE alone never gets an EOE
      [2, true],
      [3, true],
    ]);
    expect(stats.incomplete).toBe(2);
  });

  it('hands out events older than the timeout on the reader clock', () => {
    const { events } = assembleNative([{ clockMs: 0 }, rec('SYSCALL', 1), { clockMs: 1000 }, rec('SYSCALL', 2), { clockMs: 2000 }, 'publish'], ['timeoutMs=2000']);
    expect(events.map((e) => e.serial)).toEqual([1]);
    expect(events[0].incomplete).toBe(true);
  });

  it('names the key, pid and ppid from the records, without decoding them', () => {
    const keys = Buffer.from('exec\x01shell').toString('hex').toUpperCase();
    const { events, batches } = assembleNative([
      rec('SYSCALL', 1, 'arch=c000003e syscall=59 ppid=10 pid=11 key="exec"'),
      rec('EOE', 1),
      rec('SYSCALL', 2, `pid=12 ppid=x key=${keys}`),
      rec('EOE', 2),
      rec('SYSCALL', 3, 'pid=13 key=(null)'),
      rec('EOE', 3),
      // A field inside msg='…' never replaces the record's own.
      rec('USER_AVC', 4, "pid=14 uid=0 msg='avc: denied pid=99 key=\"inner\"'"),
      rec('USER_AVC', 5, "msg='pid=15 key=\"inner\"'"),
    ]);
    expect(events.map((e) => [e.keys, e.pid, e.ppid])).toEqual([
      [['exec'], 11, 10],
      [['exec', 'shell'], 12, undefined],
      [[], 13, undefined],
      [['inner'], 14, undefined],
      [['inner'], 15, undefined],
    ]);
    // The same answers as decoding the fields.
    for (const e of events.slice(0, 3)) expect(e.keys).toEqual(e.records[0].fields.key === '(null)' ? [] : e.records[0].fields.key.split('\x01'));
    expect(batches).toHaveLength(1);
  });

  it('names each event its own key when keys repeat, differ by a byte, or change length, across batches', () => {
    const keys = ['exec', 'exec', 'exed', 'exec', 'execs', 'exe', '', 'exec', 'k'.repeat(70), 'k'.repeat(70), 'k'.repeat(69) + 'j', 'exec'];
    const steps: Step[] = [];
    keys.forEach((key, i) => {
      steps.push(rec('SYSCALL', i + 1, `pid=${i} key="${key}"`), rec('EOE', i + 1));
      if (i === 5) steps.push('publish');
    });
    const { events, batches } = assembleNative(steps);
    expect(batches).toHaveLength(2);
    expect(events.map((e) => e.keys)).toEqual(keys.map((k) => [k]));
    // Twice, in another order: what one batch read does not answer for another.
    expect([...batches[1], ...batches[0]].map((e) => e.keys)).toEqual([...keys.slice(6), ...keys.slice(0, 6)].map((k) => [k]));
  });

  it('an argument ending in a backslash cannot end another field or forge a key (the kernel does not escape quotes)', () => {
    // execve("x", ["x\\", "key=forged"]) under a rule with no -k: the kernel
    // prints a0="x\" a1="key=forged". The quote after the backslash ends a0,
    // as libauparse and the JS scanner read it; read as an escape, a0 would
    // run to a1's opening quote and a1's text would become a field `key`.
    const pid = 'pid=21 uid=1000 comm="x\\" exe="/tmp/x" ';
    const { events } = assembleNative([
      rec('SYSCALL', 1, `arch=c000003e syscall=59 ppid=20 ${pid}key=(null)`),
      rec('EXECVE', 1, 'argc=2 a0="x\\" a1="key=forged"'),
      rec('EOE', 1),
      rec('USER_CMD', 2, 'pid=22 uid=0 msg=\'cwd="/tmp\\" cmd=6B65793D6E6F key="real"\''),
    ]);
    expect(events.map((e) => e.keys)).toEqual([[], ['real']]);
    expect(events[0].pid).toBe(21);
    // What decoding the records says.
    for (const e of events) expect(e.keys).toEqual(e.records.map((r) => r.fields.key).filter((k) => k !== undefined && k !== '(null)').slice(0, 1));
    expect(events[0].records[1].fields).toMatchObject({ a0: 'x\\', a1: 'key=forged' });
  });

  it('filters by key and by type before JavaScript sees an event, and counts what it left out', () => {
    const steps: Step[] = [rec('SYSCALL', 1, 'key="a"'), rec('EOE', 1), rec('SYSCALL', 2, 'key="b"'), rec('EOE', 2), rec('USER_LOGIN', 3, 'pid=1'), rec('SYSCALL', 4, 'key=(null)'), rec('PATH', 4), rec('EOE', 4)];
    const byKey = assembleNative(steps, ['key=b', 'key=zz']);
    expect(byKey.events.map((e) => e.serial)).toEqual([2]);
    expect(byKey.stats).toMatchObject({ events: 1, filtered: 3 });
    const byType = assembleNative(steps, [`type=${RECORD_TYPES.USER_LOGIN}`, `type=${RECORD_TYPES.PATH}`]);
    expect(byType.events.map((e) => e.serial)).toEqual([3, 4]);
    expect(byType.stats.filtered).toBe(2);
  });

  it('routes replies to requests (a sequence number, NLMSG_ERROR, NLMSG_DONE) away from the records', () => {
    const reply = recordDatagram(1000, Buffer.alloc(20), 77);
    const error = recordDatagram(2, Buffer.alloc(20), 78);
    const done = recordDatagram(3, Buffer.alloc(4), 0);
    const { events, replies } = assembleNative([reply, error, done].map((datagram) => ({ datagram })).concat([rec('USER', 9, "msg='hello'")]));
    expect(replies.map((r) => r.readUInt32LE(8))).toEqual([77, 78, 0]);
    // A kernel record of a type below 1100 (AUDIT_USER, LOGIN) is a record, not a reply.
    expect(events.map((e) => e.types)).toEqual([['USER']]);
  });

  it('bounds the records of one event, counts what it cut, and marks the event', () => {
    const steps: Step[] = [rec('SYSCALL', 1)];
    for (let i = 0; i < 10; i++) steps.push(rec('PATH', 1, `item=${i}`));
    steps.push(rec('EOE', 1));
    const { events, stats } = assembleNative(steps, ['maxRecordsPerEvent=4']);
    expect(events[0].records.length).toBe(4);
    expect(events[0].incomplete).toBe(true);
    expect(stats.recordsCut).toBe(7);
  });

  it('skips the kernel probe AUDIT_REPLACE, which is not a record', () => {
    const { events, stats } = assembleNative([{ datagram: recordDatagram(RECORD_TYPES.REPLACE, Buffer.from([1, 2, 3, 4])) }, rec('USER_LOGIN', 2)]);
    expect(events.map((e) => e.serial)).toEqual([2]);
    expect(stats.records).toBe(1);
  });

  it('keeps a long event whole across many records and batch growth', () => {
    const steps: Step[] = [rec('SYSCALL', 1)];
    const arg = 'x'.repeat(7000);
    for (let i = 0; i < 200; i++) steps.push(rec('EXECVE', 1, `a${i}="${arg}"`));
    steps.push(rec('EOE', 1));
    const { events } = assembleNative(steps);
    expect(events[0].records.length).toBe(201);
    expect(events[0].records[200].fields.a199).toBe(arg);
  });
});

describe('native batch blocks', () => {
  it('keeps up to 64 freed blocks for reuse while a reader holds the pool, and unmaps them when the last lets go', () => {
    // kept: mapped after 70 were freed; reused: the next block is the last kept.
    expect(nativePoolCheck()).toEqual({ unheldUnmapped: true, kept: 64, reused: true, keptAfterOneOfTwo: 64, keptAfterLast: 0 });
  });
});

describe('native cgroup reading (a fake /proc)', () => {
  const ID = 'c'.repeat(64);
  let root: string;
  const proc = (pid: number, cgroup: string | undefined, state = 'S', comm = 'sh') => {
    const dir = path.join(root, String(pid));
    fs.rmSync(dir, { recursive: true, force: true });
    if (cgroup === undefined) return;
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'cgroup'), cgroup);
    fs.writeFileSync(path.join(dir, 'comm'), `${comm}\n`);
    fs.writeFileSync(path.join(dir, 'stat'), `${pid} (${comm}) ${state} 1 ${'0 '.repeat(40)}\n`);
  };
  const exec = (serial: number, pid: number, ppid: number): Step[] => [
    rec('SYSCALL', serial, `arch=c000003e syscall=59 success=yes ppid=${ppid} pid=${pid} key="k"`),
    rec('EXECVE', serial, 'argc=1 a0="x"'),
    rec('EOE', serial),
  ];
  const sys = (serial: number, pid: number, ppid: number): Step[] => [rec('SYSCALL', serial, `syscall=110 ppid=${ppid} pid=${pid}`), rec('EOE', serial)];

  beforeAll(() => {
    root = tempDir('la-proc-');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('reads the process, or its parent when it is gone or a zombie, and says which; distinct paths only', () => {
    proc(10, `12:pids:/docker/${ID}\n11:memory:/docker/${ID}\n0::/docker/${ID}\n`);
    proc(20, undefined); // gone
    proc(21, `4:memory:/docker/${ID}\n0::/docker/${ID}\n`); // its parent, in the container
    proc(30, '12:pids:/\n0::/\n', 'Z'); // a zombie: v1 says / everywhere
    proc(31, '0::/system.slice/containerd.service\n', 'S', 'containerd-shim'); // its parent: a runtime's, on the host
    proc(40, undefined);
    proc(41, undefined);
    proc(50, '12:pids:/\n4:memory:/user.slice\n0::/\n'); // a host process
    proc(60, undefined);
    proc(61, '0::/user.slice/session-1.scope\n', 'S', 'bash'); // gone; its parent a shell on the host
    const { batches, stats } = assembleNative([...exec(1, 10, 1), ...exec(2, 20, 21), ...exec(3, 30, 31), ...exec(4, 40, 41), ...exec(5, 50, 1), ...exec(6, 60, 61)], ['cgroups=1', `procRoot=${root}`]);
    const batch = batches[0];
    const seen = Array.from({ length: batch.length }, (_, i) => batch.cgroupAt(2 + i * EVENT_WORDS));
    expect(seen).toEqual([
      { text: `/docker/${ID}`, source: CGROUP_SELF },
      { text: `/docker/${ID}`, source: CGROUP_PARENT },
      { text: '/system.slice/containerd.service', source: CGROUP_RUNTIME_PARENT },
      { text: undefined, source: CGROUP_GONE },
      { text: '/\n/user.slice', source: CGROUP_SELF },
      { text: '/user.slice/session-1.scope', source: CGROUP_PARENT },
    ]);
    const r = new ContainerResolver();
    expect(seen.map((c) => r.resolve(c.text, c.source)?.id ?? r.resolve(c.text, c.source))).toEqual([ID, ID, undefined, undefined, null, null]);
    expect(stats).toMatchObject({ cgroupParent: 3, cgroupGone: 1 });
  });

  it('a busy process is read once per 100 ms, an exec afresh every time', () => {
    proc(60, `0::/docker/${ID}\n`);
    const busy: Step[] = [{ clockMs: 0 }];
    for (let i = 0; i < 50; i++) busy.push(...sys(100 + i, 60, 1));
    busy.push({ clockMs: 150 }, ...sys(200, 60, 1));
    expect(assembleNative(busy, ['cgroups=1', `procRoot=${root}`]).stats.cgroupReads).toBe(2);
    const execs: Step[] = [{ clockMs: 0 }];
    for (let i = 0; i < 5; i++) execs.push(...exec(300 + i, 60, 1));
    expect(assembleNative(execs, ['cgroups=1', `procRoot=${root}`, 'exec=c000003e:59']).stats.cgroupReads).toBe(5);
    // Without the table an exec is a syscall like any other: cached.
    expect(assembleNative(execs, ['cgroups=1', `procRoot=${root}`]).stats.cgroupReads).toBe(1);
  });
});

describe('native cgroup text across batches', () => {
  it('a batch never points at the previous batch\'s cgroup text', () => {
    const root = tempDir('la-proc-');
    try {
      fs.mkdirSync(path.join(root, '7'));
      fs.writeFileSync(path.join(root, '7', 'cgroup'), `0::/docker/${'d'.repeat(64)}\n`);
      const ev = (serial: number): Step[] => [rec('SYSCALL', serial, 'syscall=110 ppid=1 pid=7'), rec('EOE', serial)];
      // Padding first, so that the second batch's event would sit past the shared offset.
      const { batches } = assembleNative([rec('USER', 1, `msg='${'x'.repeat(2000)}'`), ...ev(2), 'publish', ...ev(3), 'publish'], ['cgroups=1', `procRoot=${root}`]);
      expect(batches).toHaveLength(2);
      expect(batches[1].cgroupAt(2).text).toBe(`/docker/${'d'.repeat(64)}`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
