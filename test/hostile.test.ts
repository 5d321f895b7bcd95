// Issue 18's table, row by row: input a hostile user or host can give us
// (through a file name, an argv, a user message, a forged log, a config file)
// and what must happen instead of a crash, a hang, exhausted memory or a
// silent change. No timing is asserted: a quadratic or endless path shows as
// the test's timeout, a crash as an exception.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditRecord, decodeStats, parseLogLine } from '../lib/decode/record.js';
import { readAuditLog, type ReadAuditLogOptions } from '../lib/logfile/read.js';
import { AuditEvent } from '../lib/assemble/event.js';
import { formatEvent, recordToRaw } from '../lib/format/index.js';
import { parseRuleLine, RuleSyntaxError } from '../lib/rules/parse.js';
import { recordTypeName } from '../lib/constants/index.js';
import { sockaddrText } from '../lib/interpret/index.js';
import { CLI, cli } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';
import { everyOutput } from './helpers/outputs.js';
import { LOG_SHAPES, RULE_SHAPES } from '../bench/hostile.mjs';

async function events(text: string | Buffer | Array<string | Buffer>, options: ReadAuditLogOptions = {}) {
  const out: AuditEvent[] = [];
  const reader = readAuditLog(Array.isArray(text) ? text : [text], options);
  for await (const ev of reader) out.push(ev);
  return { events: out, stats: reader.stats };
}


const execve = (body: string): string => `type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes exit=0 pid=7\ntype=EXECVE msg=audit(1.000:1): ${body}\n`;

describe('EXECVE: argv is built from the arguments present; a claim they do not bear out is marked', () => {
  it.each([
    ['argc=4294967295', []],
    ['argc=100000000', []],
    ['argc=2 a0[4294967294]=41', []],
    ['argc=2 a1="y"', ['y']],
    ['argc=3 a0="x" a2="z"', ['x', 'z']],
    ['argc=1 a0_len=4 a0[0]=4142 a0[2]=4344', ['ABCD']],
  ])('%s', async (body, argv) => {
    const [ev] = (await events(execve(body))).events;
    expect(ev.argv).toEqual(argv);
    expect(ev.argvIncomplete).toBe(true);
    expect(ev.toJSON().process).toMatchObject({ argv, argvIncomplete: true });
  });

  it('a whole command line is not marked', async () => {
    const [ev] = (await events(execve('argc=2 a0="ls" a1_len=4 a1[0]=2D6C a1[1]=6121'))).events;
    expect(ev.argv).toEqual(['ls', '-la!']);
    expect(ev.argvIncomplete).toBe(false);
    expect(ev.toJSON().process).not.toHaveProperty('argvIncomplete');
  });

  it('300,000 aN= with no argc: the first 10,000 fields read, in order, without recursion; the record says the rest was not', async () => {
    const before = decodeStats().recordsFieldsCut;
    const args = Array.from({ length: 300_000 }, (_, i) => `a${i}=${i % 2 === 0 ? '41' : '"b"'}`).join(' ');
    const [ev] = (await events(execve(args), { maxLineBytes: 8 << 20 })).events;
    const argv = ev.argv!;
    expect(argv).toHaveLength(10_000);
    expect(argv.slice(0, 3)).toEqual(['A', 'b', 'A']);
    expect(ev.argvIncomplete).toBe(true); // no argc to bear it out
    expect(ev.records[1].malformed).toBe('more than 10000 fields: the rest not read');
    expect(decodeStats().recordsFieldsCut).toBe(before + 1);
    everyOutput(ev);
  });

  it('the command takes argc=4294967295 without running out of memory', () => {
    const r = cli(['parse', '-f', 'json'], { input: execve('argc=4294967295') });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).process).toEqual({ pid: 7, argv: [], argvIncomplete: true });
  });
});

describe('lines: cut at a stated bound, marked and counted; linear below it', () => {
  it('a 16 MB line is cut at 256 KiB, and the command says so', () => {
    const dir = tempDir('linux-audit-hostile-');
    const file = path.join(dir, 'long.log');
    const long = `type=USER msg=audit(1.000:1): pid=1 msg='${'a'.repeat(16 << 20)}'`;
    fs.writeFileSync(file, `${long}\ntype=USER msg=audit(1.000:2): pid=2\n`);
    const r = cli(['parse', '-f', 'json', file]);
    expect(r.code).toBe(0);
    const [cut, next] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(cut.records[0].malformed).toBe('line longer than 262144 bytes: cut there');
    expect(cut.records[0].text.length).toBe(262144 - 'type=USER msg='.length);
    expect(next.records[0].fields.pid).toBe('2');
    expect(r.stderr).toBe(`linux-audit parse: 1 line(s) longer than 262144 bytes cut (${long.length - 262144} bytes skipped; marked malformed)\n`);
    fs.rmSync(dir, { recursive: true });
  });

  it('64 MiB of NUL bytes with no newline ends, as one cut record', async () => {
    const { events: evs, stats } = await events(Buffer.alloc(64 << 20));
    expect(evs).toHaveLength(1);
    expect(evs[0].records[0].malformed).toMatch(/line longer than 262144 bytes: cut there/);
    expect(stats).toMatchObject({ lines: 1, linesCut: 1, bytesSkipped: (64 << 20) - 262144 });
  });

  it('text with no newline past what a string can hold is cut, not an Invalid string length', async () => {
    const chunk = 'x'.repeat(1 << 20);
    function* source(): Generator<string> {
      for (let i = 0; i < 600; i++) yield chunk; // 600 MiB: past V8's longest string
      yield '\ntype=USER msg=audit(1.000:2): pid=2\n';
    }
    const reader = readAuditLog(source());
    const got: AuditEvent[] = [];
    for await (const ev of reader) got.push(ev);
    expect(got.map((e) => e.records[0].malformed)).toEqual(['no type= at the start of the line; line longer than 262144 bytes: cut there', undefined]);
    expect(reader.stats).toMatchObject({ linesCut: 1, bytesSkipped: 600 * (1 << 20) - 262144 });
  });

  it('a line cut inside a multi-byte character, and bytes split across chunks, read as whole', async () => {
    const line = Buffer.from('type=USER msg=audit(1.000:1): pid=1 acct="é"\n');
    const chunks = [...line].map((b) => Buffer.from([b]));
    const { events: evs } = await events(chunks);
    expect(evs[0].records[0].fields.acct).toBe('é');
    expect(evs[0].records[0].malformed).toBeUndefined();
  });

  it.each(LOG_SHAPES.map((s) => [s.name, s.build] as const))('%s, 4 MB, read whole with the bound raised: every output, no exception', async (_name, build) => {
    const { events: evs } = await events(build(4 << 20) + '\n', { maxLineBytes: 8 << 20 });
    expect(evs.length).toBeGreaterThan(0);
    for (const ev of evs) everyOutput(ev);
  });
});

describe('events: at most 8192 records and 8 MiB each, the rest counted', () => {
  it('20,000 PATH records of one serial make one event of 8192, marked incomplete, 11,809 counted', async () => {
    const lines = ['type=SYSCALL msg=audit(1.000:5): arch=c000003e syscall=2 pid=1', ...Array.from({ length: 20_000 }, (_, i) => `type=PATH msg=audit(1.000:5): item=${i} name="/x"`)];
    const { events: evs, stats } = await events(lines.join('\n') + '\n');
    expect(evs).toHaveLength(1);
    expect(evs[0].records).toHaveLength(8192);
    expect(evs[0].incomplete).toBe(true);
    expect(stats).toMatchObject({ recordsCut: 20_001 - 8192, incomplete: 1 });
    everyOutput(evs[0]);
  });

  it('records of one serial but another time are another event, as ausearch keys them', async () => {
    const { events: evs } = await events('type=SYSCALL msg=audit(1.000:7): syscall=2 pid=1\ntype=CWD msg=audit(1.000:7): cwd="/"\ntype=SYSCALL msg=audit(2.500:7): syscall=59 pid=2\n');
    expect(evs.map((e) => [e.time, e.serial, e.types])).toEqual([
      [1000, 7, ['SYSCALL', 'CWD']],
      [2500, 7, ['SYSCALL']],
    ]);
  });
});

describe('times out of range (past 32-bit seconds, or no Date could hold them) are malformed records, never exceptions', () => {
  it.each(['audit(4294967296.000:2)', 'audit(8640000000001.000:2)', 'audit(99999999999999999999999.000:2)', 'audit(1.0000:2)'])('%s', async (header) => {
    const { events: evs, stats } = await events(`type=USER msg=${header}: pid=1\n`);
    expect(evs[0].records[0].malformed).toBe('time in audit(SECONDS.MILLIS:SERIAL) out of range');
    expect(evs[0].time).toBe(0);
    expect(stats.malformed).toBe(1);
    everyOutput(evs[0]);
    expect(formatEvent(evs[0], 'text')).not.toMatch(/NaN/);
  });
});

describe('regular expressions cannot be made to recurse or backtrack', () => {
  it('an 8 MB saddr is read as the address it starts with', () => {
    expect(sockaddrText(`0100${'00'.repeat(4 << 20)}`)).toBe('{ saddr_fam=local path=@ }');
  });

  it.each(RULE_SHAPES.map((s) => [s.name, s.build] as const))('rule with a %s of 6 MB: parsed or a RuleSyntaxError', (_name, build) => {
    try {
      parseRuleLine(build(6 << 20));
    } catch (e) {
      expect(e).toBeInstanceOf(RuleSyntaxError);
      expect((e as Error).message.length).toBeLessThan(400);
    }
  });
});

describe('names that input chooses never reach Object.prototype', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])('type=%s is an unknown type, written back as read', async (name) => {
    const line = `type=${name} msg=audit(1.000:2): pid=1`;
    const [ev] = (await events(line + '\n')).events;
    const r = ev.records[0];
    expect(r.type).toBe(0);
    expect(r.malformed).toBe(`unknown record type ${name}`);
    expect(formatEvent(ev, 'raw')).toBe(line);
  });

  it('fields named __proto__ and constructor are own data, in fields, interpreted and JSON', () => {
    const r = parseLogLine('type=USER msg=audit(1.000:2): pid=1 __proto__=x constructor=y toString=z')!;
    expect(Object.getPrototypeOf(r.fields)).toBe(Object.prototype);
    expect(Object.entries(r.fields)).toEqual([['pid', '1'], ['__proto__', 'x'], ['constructor', 'y'], ['toString', 'z']]);
    expect(Object.entries(r.interpreted)).toEqual(Object.entries(r.fields));
    expect(JSON.parse(JSON.stringify(r)).fields).toEqual({ pid: '1', ['__proto__']: 'x', constructor: 'y', toString: 'z' });
  });

  it('-S constructor is an unknown syscall', () => {
    expect(() => parseRuleLine('-a always,exit -F arch=b64 -S constructor')).toThrow(/unknown syscall "constructor" for x86_64/);
  });
});

describe('the config file: one line naming the key, exit 2', () => {
  const dir = tempDir('linux-audit-hostile-config-');
  it.each([
    ['{"__proto__":{}}', /^linux-audit forward: .*c\.json\.__proto__: unknown key; known keys here: mode, rules/],
    ['{"constructor":{}}', /^linux-audit forward: .*c\.json\.constructor: unknown key/],
    ['{"filter":{"toString":1}}', /^linux-audit forward: .*c\.json\.filter\.toString: unknown key; known keys here: keys, types/],
    [`{"rules":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, /^linux-audit forward: .*c\.json\.rules\[0\]: expected a string, got a list/],
    [`${'['.repeat(100_000)}${']'.repeat(100_000)}`, /^linux-audit forward: .*c\.json: expected an object, got a list/],
  ])('%s', (json, message) => {
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, json);
    const r = cli(['forward', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});

describe('bytes that are not UTF-8 in a log line: kept, hex in JSON, marked', () => {
  const line = Buffer.concat([Buffer.from("type=USER msg=audit(1.000:1): pid=1 msg='op=x "), Buffer.from([0xff, 0xfe]), Buffer.from(' acct="r'), Buffer.from([0xc3, 0x28]), Buffer.from('"\'')]);

  it('the API marks the record and keeps the line\'s bytes', async () => {
    const { events: evs, stats } = await events(Buffer.concat([line, Buffer.from('\n')]));
    const r = evs[0].records[0];
    expect(r.malformed).toBe('bytes that are not UTF-8 (kept in lineBytes)');
    expect(r.lineBytes).toEqual(line);
    expect(r.fields.op).toBe('x');
    expect(stats.notUtf8).toBe(1);
    const json = JSON.parse(JSON.stringify(evs[0]));
    expect(Buffer.from(json.records[0].lineHex, 'hex')).toEqual(line);
  });

  it('parse --format raw writes the line back byte for byte', () => {
    const r = spawnSync(process.execPath, [CLI, 'parse', '--format', 'raw'], { input: Buffer.concat([line, Buffer.from('\n')]) });
    expect(r.status).toBe(0);
    expect(r.stdout).toEqual(Buffer.concat([line, Buffer.from('\n')]));
  });
});

describe('the command: errors are one line with the documented exit code', () => {
  it('output to a full disk: one line, exit 1', () => {
    const dir = tempDir('linux-audit-hostile-');
    const file = path.join(dir, 'a.log');
    fs.writeFileSync(file, 'type=USER msg=audit(1.000:1): pid=1\n'.repeat(10_000));
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" parse "${file}" > /dev/full`], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('linux-audit parse: cannot write the output: ENOSPC: no space left on device, write\n');
    fs.rmSync(dir, { recursive: true });
  });

  it.each([
    ['/no/such/file', 'no such file'],
    ['/etc/hostname/x', 'ENOTDIR: not a directory, open \'/etc/hostname/x\''],
  ])('a file that cannot be read after one that can (%s): nothing printed, one line, exit 1', (bad, why) => {
    const dir = tempDir('linux-audit-hostile-');
    const ok = path.join(dir, 'ok.log');
    fs.writeFileSync(ok, 'type=USER msg=audit(1.000:1): pid=1\n');
    const r = cli(['parse', ok, bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`linux-audit parse: cannot read ${bad}: ${why}\n`);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('record types of this kernel (6.18) have their names', () => {
  it.each([
    [1420, 'IPE_ACCESS'],
    [1421, 'IPE_CONFIG_CHANGE'],
    [1422, 'IPE_POLICY_LOAD'],
    [1423, 'LANDLOCK_ACCESS'],
    [1424, 'LANDLOCK_DOMAIN'],
    [1425, 'MAC_TASK_CONTEXTS'],
    [1426, 'MAC_OBJ_CONTEXTS'],
  ])('%i is %s, read and written back by name', (type, name) => {
    expect(recordTypeName(type)).toBe(name);
    for (const written of [name, `UNKNOWN[${type}]`]) {
      const r = parseLogLine(`type=${written} msg=audit(1.000:1): subj_apparmor=unconfined`)!;
      expect(r.type).toBe(type);
      expect(r.malformed).toBeUndefined();
      expect(recordToRaw(r)).toBe(`type=${name} msg=audit(1.000:1): subj_apparmor=unconfined`);
    }
  });
});

describe('rule values: out of 32 bits is refused, never truncated to root', () => {
  // libaudit truncates: auditctl -F uid=4294967296 installs uid=0 (checked on
  // this machine: `auditctl -l` prints -F uid=0).
  it.each(['uid=4294967296', 'uid=18446744073709551616', 'pid=9007199254740993', 'exit=-99999999999', 'a0=0x100000000', 'auid=99999999999999999999'])('-F %s', (field) => {
    expect(() => parseRuleLine(`-a always,exit -F arch=b64 -S openat -F ${field}`)).toThrow(/expected a number that fits in 32 bits \(-2147483648 to 4294967295\)/);
  });

  it.each([
    ['uid=4294967295', 4294967295],
    ['auid=unset', 4294967295],
    ['exit=-2', 4294967294],
    ['a0=0xffffffff', 4294967295],
  ])('-F %s is kept exactly', (field, value) => {
    const parsed = parseRuleLine(`-a always,exit -F arch=b64 -S openat -F ${field}`);
    expect(parsed.kind === 'add' && parsed.rule.fields.at(-1)?.value).toBe(value);
  });
});

describe('raw output: no line break reaches it from any field', () => {
  it.each([
    ['a bare \\r in the body', parseLogLine('type=USER msg=audit(1.000:1): pid=1\rtype=USER msg=audit(1.000:2): forged=1')!],
    ['a \\r in node=', parseLogLine('node=a\rtype=USER type=USER msg=audit(1.000:1): pid=1')!],
    ['a \\n in node= (API)', AuditRecord.fromText(1005, 'audit(1.000:1): pid=1', 'a\ntype=USER msg=audit(1.000:2): forged=1')],
    ['a \\n in the text (API)', AuditRecord.fromText(1005, 'audit(1.000:1): pid=1\ntype=USER msg=audit(1.000:2): forged=1')],
  ])('%s', (_what, record) => {
    const raw = recordToRaw(record);
    expect(raw).not.toMatch(/[\r\n]/);
    expect(formatEvent(new AuditEvent(record), 'raw')).not.toMatch(/[\r\n]/);
  });
});
