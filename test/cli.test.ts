// The command as a user runs it, on log files (no kernel needed): parse, its
// formats and filters, terminal safety, and what a mistake looks like.
import { tempDir } from './helpers/temp.js';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAuditLog } from '../lib/logfile/read.js';
import type { AuditEvent } from '../lib/assemble/event.js';
import { CLI, cli } from './helpers/cli.js';
import { corpusPath } from './helpers/corpus.js';
import { validateEvent } from './helpers/schema.js';

const LOGS = ['go-libaudit/auparse/audit-rhel7.log', 'go-libaudit/auparse/audit-ubuntu16.log', 'audit-userspace/auparse-test/test.log'];

async function apiEvents(file: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const ev of readAuditLog(fs.createReadStream(file))) out.push(ev);
  return out;
}

const jsonLines = (text: string): unknown[] => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('linux-audit parse', () => {
  it.each(LOGS)('gives the same events as the API on %s', async (log) => {
    const file = corpusPath(log);
    const r = cli(['parse', '--format', 'json', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ours = jsonLines(r.stdout);
    const api = (await apiEvents(file)).map((ev) => JSON.parse(JSON.stringify(ev)));
    expect(api.length).toBeGreaterThan(2);
    expect(ours).toEqual(api);
    for (const ev of ours) expect(validateEvent(ev), JSON.stringify(validateEvent.errors)).toBe(true);
  });

  it('reads stdin when given no file, and several files one after another', async () => {
    const a = corpusPath(LOGS[0]);
    const b = corpusPath(LOGS[1]);
    const fromStdin = cli(['parse', '-f', 'json'], { input: fs.readFileSync(a) });
    expect(fromStdin.code).toBe(0);
    expect(jsonLines(fromStdin.stdout).length).toBe((await apiEvents(a)).length);
    const both = cli(['parse', '-f', 'json', a, b]);
    expect(jsonLines(both.stdout).length).toBe((await apiEvents(a)).length + (await apiEvents(b)).length);
  });

  it('raw output is the log again, line for line', () => {
    // auditd writes an event's records together, so grouping them changes no order here.
    const file = corpusPath('go-libaudit/auparse/audit-ubuntu16.log');
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('type='));
    const r = cli(['parse', '--format', 'raw', file]);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').sort()).toEqual([...lines].sort());
  });

  it('filters: key, type, syscall, success, uid, exe, pid, and all of them together', async () => {
    const file = corpusPath('go-libaudit/auparse/audit-rhel7.log');
    const all = await apiEvents(file);
    const serials = (text: string): number[] => jsonLines(text).map((e) => (e as { serial: number }).serial);
    // The expected sets come from the records' raw fields, not from the filter code.
    const has = (ev: AuditEvent, pred: (f: Record<string, string>) => boolean): boolean => ev.records.some((r) => pred(r.fields));
    const cases: Array<[string[], (ev: AuditEvent) => boolean]> = [
      [['-t', 'SYSCALL'], (ev) => ev.records.some((r) => r.typeName === 'SYSCALL')],
      [['--type', 'user_login,1112'], (ev) => ev.records.some((r) => r.type === 1112)],
      [['--success', 'no'], (ev) => has(ev, (f) => f.success === 'no' || f.res === 'failed' || f.res === '0')],
      [['-S', 'connect'], (ev) => has(ev, (f) => f.syscall === '42')],
      [['-S', '62,finit_module'], (ev) => has(ev, (f) => f.syscall === '62' || f.syscall === '313')],
      [['-u', 'root'], (ev) => has(ev, (f) => f.uid === '0' || f.euid === '0' || f.auid === '0')],
      [['-x', 'sshd'], (ev) => has(ev, (f) => f.exe === '/usr/sbin/sshd')],
      [['-x', '/usr/sbin/sshd'], (ev) => has(ev, (f) => f.exe === '/usr/sbin/sshd')],
      [['-p', '1264'], (ev) => has(ev, (f) => f.pid === '1264')],
      [['-t', 'SYSCALL', '--success', 'yes'], (ev) => ev.records.some((r) => r.typeName === 'SYSCALL' && r.fields.success === 'yes')],
    ];
    for (const [args, want] of cases) {
      const expected = all.filter(want).map((ev) => ev.serial);
      expect(expected.length, args.join(' ')).toBeGreaterThan(0);
      expect(expected.length, args.join(' ')).toBeLessThan(all.length);
      const r = cli(['parse', '-f', 'json', ...args, file]);
      expect(r.code, r.stderr).toBe(0);
      expect(serials(r.stdout), args.join(' ')).toEqual(expected);
    }
    const keyed = cli(['parse', '-f', 'json', '-k', 'exec', corpusPath('laurel/shell-proc-trace.txt'), '--eoe']);
    const keyedApi: number[] = [];
    for await (const ev of readAuditLog(fs.createReadStream(corpusPath('laurel/shell-proc-trace.txt')), { expectEndOfEvent: true })) {
      if (ev.records.some((r) => (r.fields.key ?? '').split('\x01').includes('exec'))) keyedApi.push(ev.serial);
    }
    expect(serials(keyed.stdout)).toEqual(keyedApi);
  });

  it('--records fields leaves out each record\'s text, none the records; the rest is the same and valid', () => {
    const file = corpusPath('laurel/record-execve.txt');
    const [full, fields, none] = ['full', 'fields', 'none'].map((r) => jsonLines(cli(['parse', '--eoe', '--format', 'json', '--records', r, file]).stdout)[0] as Record<string, unknown> & { records?: Array<Record<string, unknown>> });
    for (const ev of [full, fields, none]) expect(validateEvent(ev), JSON.stringify(validateEvent.errors)).toBe(true);
    expect(fields.records!.map((r) => r.text)).toEqual(full.records!.map(() => undefined));
    expect(fields.records!.map((r) => r.fields)).toEqual(full.records!.map((r) => r.fields));
    expect(none).not.toHaveProperty('records');
    const { records: _full, ...fullRest } = full;
    const { records: _none, ...noneRest } = none;
    expect(noneRest).toEqual(fullRest);
    expect(cli(['parse', '--records', 'some', '/dev/null']).stderr).toMatch(/--records must be one of full, fields, none, not "some"/);
  });

  it('--count stops after N events', () => {
    const r = cli(['parse', '-f', 'json', '-n', '3', corpusPath(LOGS[0])]);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toHaveLength(3);
  });

  it('shows a progress bar for a big file when stderr is a terminal, and nothing otherwise', () => {
    const dir = tempDir('linux-audit-cli-');
    try {
      const big = path.join(dir, 'big.log');
      const chunk = fs.readFileSync(corpusPath('go-libaudit/auparse/audit-rhel7.log'));
      const fd = fs.openSync(big, 'w');
      for (let written = 0; written < 9 * 1024 * 1024; written += chunk.length) fs.writeSync(fd, chunk);
      fs.closeSync(fd);
      // script(1) gives the command a terminal; stdout still goes to a file.
      const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} parse -f json ${big} > /dev/null`, '/dev/null'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/big\.log: \[#* *\] \d+% of 9\.\d MB/);
      expect(r.stdout.endsWith('\r\x1b[K')).toBe(true);
      const piped = cli(['parse', '-f', 'json', big]);
      expect(piped.code).toBe(0);
      expect(piped.stderr).toBe('');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('text is the default on a terminal, in colour unless NO_COLOR is set; json when piped', () => {
    const file = corpusPath('go-libaudit/auparse/audit-rhel7.log');
    const onTerminal = (env: string) => spawnSync('script', ['-qec', `${env} ${process.execPath} ${CLI} parse -t SYSCALL -n 1 ${file}`, '/dev/null'], { encoding: 'utf8' }).stdout;
    expect(onTerminal('NO_COLOR=')).toContain('\x1b[1mtype=SYSCALL\x1b[0m');
    const plain = onTerminal('NO_COLOR=1');
    expect(plain).toMatch(/^----\r?\n/);
    expect(plain).not.toContain('\x1b[');
    expect(() => JSON.parse(cli(['parse', '-t', 'SYSCALL', '-n', '1', file]).stdout)).not.toThrow();
  });

  it('text output is readable like ausearch -i', () => {
    const r = cli(['parse', '-f', 'text', '-t', 'SYSCALL', '-n', '1', corpusPath('go-libaudit/auparse/audit-rhel7.log')]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('----');
    const syscall = lines.find((l) => l.startsWith('type=SYSCALL '))!;
    expect(syscall).toMatch(/^type=SYSCALL msg=audit\(\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{3}:\d+\) : /);
    expect(syscall).toContain('arch=x86_64');
    expect(syscall).not.toMatch(/\x1b/);
  });
});

describe('terminal safety', () => {
  // A file name an attacker chose: a screen-clearing escape, a newline that
  // would forge a record, a bidi override, and a byte that is not UTF-8.
  const name = Buffer.concat([Buffer.from('/tmp/a\x1b[2J\nb\u202Ecod.sh'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]);
  const hex = name.toString('hex').toUpperCase();
  const log = [
    `type=SYSCALL msg=audit(1700000000.123:77): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd a2=241 a3=1b6 items=1 ppid=1 pid=4242 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="touch" exe="/usr/bin/touch" key=(null)`,
    `type=PATH msg=audit(1700000000.123:77): item=0 name=${hex} inode=42 dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0`,
    '',
  ].join('\n');

  it('shows escape sequences, newlines, bidi overrides and invalid UTF-8 escaped in text output', () => {
    const r = cli(['parse', '-f', 'text'], { input: log });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stdout).not.toContain('\u202E');
    const path = r.stdout.split('\n').find((l) => l.startsWith('type=PATH'))!;
    expect(path).toContain('name=/tmp/a\\x1b[2J\\nb\\u{202e}cod.sh\\xff\\xfe.txt');
    // One line per record: the newline in the name did not make another.
    expect(r.stdout.trimEnd().split('\n').filter((l) => l.startsWith('type='))).toHaveLength(2);
  });

  it('keeps every byte in JSON: the hex as logged beside the decoded text', () => {
    const r = cli(['parse', '-f', 'json'], { input: log });
    const [ev] = jsonLines(r.stdout) as Array<{ records: Array<{ typeName: string; fields: Record<string, string>; hex?: Record<string, string> }> }>;
    const pathRecord = ev.records.find((x) => x.typeName === 'PATH')!;
    expect(Buffer.from(pathRecord.hex!.name, 'hex')).toEqual(name);
    expect(pathRecord.fields.name.startsWith('/tmp/a\x1b[2J\nb')).toBe(true);
  });

  it('raw output keeps the record on one line', () => {
    const r = cli(['parse', '-f', 'raw'], { input: log });
    expect(r.stdout.trimEnd().split('\n')).toEqual(log.trimEnd().split('\n'));
  });
});

describe('mistakes', () => {
  const cases: Array<[string[], RegExp]> = [
    [['parse', '--bogus'], /^linux-audit parse: Unknown option '--bogus' \(see linux-audit parse --help\)$/],
    [['parse', '--success', 'maybe', '/dev/null'], /--success must be one of yes, no, not "maybe"/],
    [['parse', '--type', 'NOT_A_TYPE', '/dev/null'], /unknown record type "NOT_A_TYPE"/],
    [['parse', '--pid', 'x', '/dev/null'], /--pid wants a whole number/],
    [['parse', '--format', 'xml', '/dev/null'], /--format must be one of json, text, raw, ecs, not "xml"/],
    [['parse', os.tmpdir()], /is a directory/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['rules', 'sideways'], /unknown rules action "sideways"/],
    [['tail', 'extra'], /Unexpected argument 'extra'/],
    [['tail', '--mode', 'broadcast'], /--mode must be one of unicast, multicast, auto/],
    [['tail', '--preset', 'nope'], /unknown preset "nope"/],
    [['backlog'], /backlog wants one number/],
    [['bench', 'fastest'], /^bench: unknown scenario "fastest"; scenarios: decode, log/],
    [['bench', 'live', '--seconds', 'x'], /^bench: --seconds wants a number of seconds, not "x"$/],
    [['forward', '--to', 'http://logs'], /--to http:\/\/logs: unknown scheme "http"/],
    [['forward', '--config', '/no/such/config.json'], /cannot read the config file \/no\/such\/config\.json: no such file/],
    [['forward', '--to', 'tls://127.0.0.1:1?ca=/no/ca.pem'], /cannot read the TLS CA file \/no\/ca\.pem: no such file/],
    [['watch', '--learn', '10x'], /^linux-audit watch: --learn 10x: not a duration; write e\.g\. 90s, 10m or 2h/],
    [['watch', '--learn-events', '0'], /--learn-events/],
    [['watch', 'abc'], /unexpected argument "abc" \(a container id goes with --reset\)/],
    [['watch', '--reset', 'abc'], /--reset abc: give the container id, or at least 12 characters of it/],
    [['watch', '--to', 'gopher://x'], /--to gopher:\/\/x: unknown scheme "gopher"/],
    [['bench', 'live', '--runs', '0'], /^bench: --runs wants a whole number of rounds, not "0"$/],
  ];
  it.each(cases)('%j: one line on stderr, exit 2', (args, message) => {
    const r = cli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
  });

  it('a rules file with a mistake names its file and line', () => {
    const dir = tempDir('linux-audit-cli-');
    try {
      fs.writeFileSync(path.join(dir, 'bad.rules'), '# ok\n-a always,exit -F arch=b64 -S execve\n-a always,exit -F arch=b64 -S nosuchcall\n');
      const r = cli(['tail', '--rules', path.join(dir, 'bad.rules')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/bad\.rules:3:\d+: .*nosuchcall/);
      fs.writeFileSync(path.join(dir, 'control.rules'), '-D\n');
      const c = cli(['tail', '--rules', path.join(dir, 'control.rules')]);
      expect(c.code).toBe(2);
      expect(c.stderr).toMatch(/control\.rules:1: tail installs rules only/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a config file with a wrong key: the key, what it wants, exit 2', () => {
    const dir = tempDir('linux-audit-cli-');
    try {
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify({ mode: 'auto', sinks: [{ type: 'syslog', transport: 'relp', host: 'logs', port: 'x' }] }));
      const r = cli(['forward', '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd()).toBe(`linux-audit forward: ${file}.sinks[0].port: expected a whole number from 1 to 65535, got "x" (see linux-audit forward --help)`);
      fs.writeFileSync(file, '{ "mode": ');
      expect(cli(['forward', '--config', file]).stderr).toMatch(/config\.json is not JSON/);
      fs.writeFileSync(file, '{}');
      expect(cli(['forward', '--config', file]).stderr).toMatch(/forward needs somewhere to send: --to URL, or "sinks" in/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every command has --help', () => {
    for (const command of ['status', 'enable', 'disable', 'backlog', 'rate', 'rules', 'tail', 'parse', 'forward', 'bench']) {
      const r = cli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toMatch(new RegExp(`^Usage: linux-audit ${command}`));
    }
  });
});
