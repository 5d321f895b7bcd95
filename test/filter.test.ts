// Filters and exclusions on events read from log lines: what each criterion
// keeps and leaves out, what the kernel is asked to leave out instead, and
// record types dropped from events.
import { describe, expect, it } from 'vitest';
import { readAuditLog } from '../lib/logfile/read.js';
import type { AuditEvent } from '../lib/assemble/event.js';
import { FilterError, compileFilter, compileRecordDrop, exclusionsIn, kernelExclusions, type EventFilter } from '../lib/filter/index.js';
import { parseRuleLine } from '../lib/rules/parse.js';
import { RateLimit } from '../lib/filter/rate.js';
import { ArgvCap } from '../lib/filter/cap.js';
import { eventToRaw } from '../lib/format/raw.js';
import { checkConfig } from '../lib/config/index.js';
import { validateEvent } from './helpers/schema.js';

const LOG = [
  'type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes exit=0 pid=10 uid=0 auid=0 exe="/usr/bin/containerd-shim" key="exec"',
  'type=EXECVE msg=audit(1.000:1): argc=1 a0="shim"',
  'type=CWD msg=audit(1.000:1): cwd="/"',
  'type=PATH msg=audit(1.000:1): item=0 name="/usr/bin/containerd-shim" nametype=NORMAL',
  'type=PROCTITLE msg=audit(1.000:1): proctitle=7368696D',
  'type=SYSCALL msg=audit(1.000:2): arch=c000003e syscall=257 success=yes exit=3 pid=11 uid=0 auid=0 exe="/tmp/x" key="files"',
  'type=CWD msg=audit(1.000:2): cwd="/proc/11"',
  'type=PATH msg=audit(1.000:2): item=0 name="/proc/11/status" nametype=NORMAL',
  'type=PROCTITLE msg=audit(1.000:2): proctitle=2F746D702F78',
  'type=SYSCALL msg=audit(1.000:3): arch=c000003e syscall=257 success=yes exit=3 pid=12 uid=0 auid=0 exe="/usr/bin/cat" key="files"',
  'type=CWD msg=audit(1.000:3): cwd="/proc"',
  'type=PATH msg=audit(1.000:3): item=0 name="/etc/shadow" nametype=NORMAL',
  'type=PROCTITLE msg=audit(1.000:3): proctitle=636174',
  'type=USER_LOGIN msg=audit(1.000:4): pid=13 uid=0 auid=1000 msg=\'op=login acct="alice" exe="/usr/sbin/sshd" res=success\'',
];

async function events(): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const ev of readAuditLog([LOG.join('\n') + '\n'])) out.push(ev);
  return out;
}

async function kept(filter: EventFilter): Promise<number[]> {
  const f = compileFilter(filter);
  return (await events()).filter(f).map((e) => e.serial);
}

describe('exclusions and regular expressions', () => {
  it.each<[string, EventFilter, number[]]>([
    ['not key', { notKeys: ['files'] }, [1, 4]],
    ['not exe by path', { notExes: ['/usr/bin/containerd-shim'] }, [2, 3, 4]],
    ['not exe by name', { notExes: ['cat', 'sshd'] }, [1, 2]],
    ['exe match', { exeMatch: '^/tmp/' }, [2]],
    ['not exe match', { notExeMatch: '^/usr/' }, [2]],
    ['path match (PATH names and cwd)', { pathMatch: '^/etc/' }, [3]],
    ['not path match: left out only when every path matches', { notPathMatch: '^/proc' }, [1, 3, 4]],
    ['criteria together', { keys: ['files'], notExeMatch: '^/tmp/' }, [3]],
  ])('%s', async (_what, filter, serials) => {
    expect(await kept(filter)).toEqual(serials);
  });

  it('a regular expression that does not compile is a FilterError naming the criterion', () => {
    expect(() => compileFilter({ pathMatch: '(' })).toThrow(FilterError);
    expect(() => compileFilter({ notExeMatch: '[' })).toThrow(/not exe match: not a regular expression/);
  });

  it('an excluded full path is a kernel rule as auditctl reads it; the rest stays in the agent', () => {
    const filter: EventFilter = { notExes: ['/usr/bin/containerd-shim', '/opt/my tool', 'cat'], notKeys: ['noise'], notPathMatch: '^/proc/' };
    const rules = kernelExclusions(filter);
    expect(rules).toEqual(['-A never,exit -F exe=/usr/bin/containerd-shim', '-A never,exit -F exe=/opt/my\\ tool']);
    const parsed = parseRuleLine(rules[1]);
    expect(parsed?.kind === 'add' && parsed.rule.prepend && parsed.rule.fields.find((f) => f.text !== undefined)?.text).toBe('/opt/my tool');
    expect(exclusionsIn(filter)).toEqual({ kernel: rules, agent: ['not key noise', 'not exe named cat', 'not paths all matching ^/proc/'] });
  });
});

describe('record types dropped from events', () => {
  it('PROCTITLE:EXECVE drops the title only where the EXECVE records hold the command line', async () => {
    const drop = compileRecordDrop(['PROCTITLE:EXECVE'])!;
    const evs = await events();
    for (const ev of evs) drop(ev);
    expect(evs.map((e) => e.types)).toEqual([
      ['SYSCALL', 'EXECVE', 'CWD', 'PATH'],
      ['SYSCALL', 'CWD', 'PATH', 'PROCTITLE'],
      ['SYSCALL', 'CWD', 'PATH', 'PROCTITLE'],
      ['USER_LOGIN'],
    ]);
    expect(evs[0].toJSON().records).toHaveLength(4);
  });

  it('a type dropped always, and names checked', async () => {
    const drop = compileRecordDrop(['cwd', '1327'])!;
    const evs = await events();
    for (const ev of evs) drop(ev);
    expect(evs[1].types).toEqual(['SYSCALL', 'PATH']);
    expect(() => compileRecordDrop(['NOPE'])).toThrow(/drop record NOPE: unknown record type/);
    expect(() => compileRecordDrop(['A:B:C'])).toThrow(/write TYPE or TYPE:IF_TYPE/);
    expect(compileRecordDrop([])).toBeUndefined();
  });
});

describe('rate limit per key', () => {
  const keyed = (key: string): AuditEvent => ({ keys: key === '' ? [] : [key] }) as unknown as AuditEvent;

  it('N a second per key in bursts of N, each key its own bucket; what is held back counted per key', () => {
    const r = new RateLimit(3);
    const passed = (key: string, n: number, at: number): number => Array.from({ length: n }, () => r.allow(keyed(key), at)).filter(Boolean).length;
    expect(passed('exec', 10, 0)).toBe(3);
    expect(passed('files', 2, 0)).toBe(2);
    expect(passed('', 5, 0)).toBe(3);
    // A second later the bucket is full again; half a second refills half of it.
    expect(passed('exec', 10, 1000)).toBe(3);
    expect(passed('exec', 10, 1500)).toBe(1);
    expect(Object.fromEntries(r.suppressed)).toEqual({ exec: 7 + 7 + 9, '(none)': 2 });
    expect(r.total).toBe(25);
  });
});

describe('the argv cap (forward --max-argv-bytes)', () => {
  // a1 is 40 bytes, split by the kernel into two hex chunks over two records.
  const LONG = [
    'type=SYSCALL msg=audit(2.000:5): arch=c000003e syscall=59 success=yes exit=0 pid=20 uid=0 auid=0 exe="/usr/bin/echo" key="exec"',
    'type=EXECVE msg=audit(2.000:5): argc=3 a0="/bin/echo" a1_len=40 a1[0]=6162636465666768696A6B6C6D6E6F7071727374',
    'type=EXECVE msg=audit(2.000:5): a1[1]=75767778797A3031323334353637383941424344 a2="tail"',
    'type=CWD msg=audit(2.000:5): cwd="/"',
    // "/bin/echo\0" + a1 + "\0tail"
    'type=PROCTITLE msg=audit(2.000:5): proctitle=2F62696E2F6563686F006162636465666768696A6B6C6D6E6F707172737475767778797A3031323334353637383941424344007461696C',
  ];
  const one = async (lines: string[]): Promise<AuditEvent> => {
    for await (const ev of readAuditLog([lines.join('\n') + '\n'])) return ev;
    throw new Error('no event');
  };

  it('keeps the first bytes of the command line in one EXECVE record, argc as the kernel gave it, marked and counted', async () => {
    const ev = await one(LONG);
    expect(ev.argv).toEqual(['/bin/echo', 'abcdefghijklmnopqrstuvwxyz0123456789ABCD', 'tail']); // read before the cut: forgotten after
    const cap = new ArgvCap();
    cap.apply(ev, 20);
    expect(ev.types).toEqual(['SYSCALL', 'EXECVE', 'CWD', 'PROCTITLE']);
    expect(ev.record('EXECVE')!.text).toBe('audit(2.000:5): argc=3 a0="/bin/echo" a1="abcdefghijk"');
    expect(ev.record('EXECVE')!.cutBytes).toBe(53 - 20);
    expect(ev.argv).toEqual(['/bin/echo', 'abcdefghijk']);
    expect(ev.argvIncomplete).toBe(true);
    expect(ev.record('PROCTITLE')!.text).toBe('audit(2.000:5): proctitle=2F62696E2F6563686F006162636465666768696A');
    const json = ev.toJSON();
    expect(json.process).toMatchObject({ argv: ['/bin/echo', 'abcdefghijk'], argvIncomplete: true, argvCutBytes: 33, title: '/bin/echo abcdefghij', titleCutBytes: 35 });
    expect(json.records!.map((r) => r.cutBytes)).toEqual([undefined, 33, undefined, 35]);
    expect(validateEvent(JSON.parse(JSON.stringify(ev))), JSON.stringify(validateEvent.errors)).toBe(true);
    expect(cap.events).toBe(1);
    expect(cap.bytes).toBe(33 + 35);
    // Raw output is audit.log lines the kernel could have written, and reads back to the same command line.
    const raw = eventToRaw(ev);
    expect(raw).toContain('type=EXECVE msg=audit(2.000:5): argc=3 a0="/bin/echo" a1="abcdefghijk"\n');
    const again = await one(raw.trimEnd().split('\n'));
    expect(again.argv).toEqual(['/bin/echo', 'abcdefghijk']);
  });

  it('writes a kept argument that is not printable as the kernel does: upper-case hex', async () => {
    const ev = await one(['type=EXECVE msg=audit(3.000:6): argc=2 a0="sh" a1=61206222' + '78'.repeat(40)]);
    new ArgvCap().apply(ev, 16);
    expect(ev.records[0].text).toBe('audit(3.000:6): argc=2 a0="sh" a1=6120622278787878787878787878');
    expect(ev.argv).toEqual(['sh', 'a b"xxxxxxxxxx']);
  });

  it('counts bytes, not characters: a quoted argument of 100 two-byte characters (135 characters of record) is over a bound of 150', async () => {
    const ev = await one([`type=EXECVE msg=audit(4.000:7): argc=1 a0="${'é'.repeat(100)}"`]);
    new ArgvCap().apply(ev, 150);
    expect(ev.record('EXECVE')!.cutBytes).toBe(50);
    expect(ev.argv).toEqual(['é'.repeat(75)]);
  });

  it('leaves an event under the bound as it was, and does not count it', async () => {
    const ev = await one(LONG);
    const before = ev.records;
    const cap = new ArgvCap();
    cap.apply(ev, 55);
    expect(ev.records).toBe(before);
    expect(ev.argvIncomplete).toBe(false);
    expect(cap.events).toBe(0);
    expect(cap.bytes).toBe(0);
  });

  it('is a number of bytes of at least 16, in the config as on the command line', () => {
    expect(checkConfig({ maxArgvBytes: 4096 }).maxArgvBytes).toBe(4096);
    expect(() => checkConfig({ maxArgvBytes: 8 })).toThrow(/maxArgvBytes/);
  });
});
