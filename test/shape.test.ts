import fs from 'node:fs';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { readAuditLog, type AuditEvent } from '../lib/index.js';
import { corpusPath, listCorpus, readCorpus } from './helpers/corpus.js';
import { validateEvent } from './helpers/schema.js';


async function events(text: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const e of readAuditLog([text])) out.push(e);
  return out;
}

describe('the event JSON', () => {
  const logs = [
    ...listCorpus('go-libaudit/auparse', '.log').map((f) => `go-libaudit/auparse/${f}`),
    ...listCorpus('laurel', '.txt').map((f) => `laurel/${f}`),
    ...listCorpus('elastic-beats/auditbeat-auditd-testdata', '.log').map((f) => `elastic-beats/auditbeat-auditd-testdata/${f}`),
    'audit-userspace/auparse-test/test.log',
  ];

  it('every corpus event matches docs/event.schema.json and survives a JSON round trip', async () => {
    let n = 0;
    for (const log of logs) {
      const text = readCorpus(log)
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n');
      for (const ev of await events(text)) {
        const json = JSON.parse(JSON.stringify(ev)) as object;
        const ok = validateEvent(json);
        expect(ok, `${log} serial ${ev.serial}: ${JSON.stringify(validateEvent.errors)}`).toBe(true);
        expect(json).toEqual(ev.toJSON());
        n++;
      }
    }
    expect(n).toBeGreaterThan(250);
  });

  it('keeps bytes that are not UTF-8: the hex as logged beside the decoded text', async () => {
    const bytes = Buffer.from([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff, 0xfe, 0x41]); // "/tmp/" ff fe "A"
    const hex = bytes.toString('hex').toUpperCase();
    const [ev] = await events(`type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=2 success=no exit=-2 comm="x" exe="/x"\ntype=PATH msg=audit(1.000:1): item=0 name=${hex} nametype=UNKNOWN\ntype=EOE msg=audit(1.000:1): \n`);
    const json = JSON.parse(JSON.stringify(ev)) as { records: Array<{ fields: Record<string, string>; hex?: Record<string, string> }> };
    const path = json.records[1];
    expect(path.fields.name).toBe('/tmp/\ufffd\ufffdA');
    expect(Buffer.from(path.hex!.name, 'hex')).toEqual(bytes);
    expect(json.records[0].hex).toBeUndefined();
  });

  it('has the parts people read first', async () => {
    const [ev] = await events(
      [
        'type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7ffd a2=0 a3=0 items=1 ppid=1 pid=4242 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" key="secrets"',
        'type=CWD msg=audit(1700000000.123:42): cwd="/root"',
        'type=PATH msg=audit(1700000000.123:42): item=0 name="/etc/shadow" inode=42 dev=08:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL',
        'type=PROCTITLE msg=audit(1700000000.123:42): proctitle=636174002F6574632F736861646F77',
        'type=EOE msg=audit(1700000000.123:42): ',
        '',
      ].join('\n'),
    );
    expect(ev.toJSON()).toMatchObject({
      serial: 42,
      time: '2023-11-14T22:13:20.123Z',
      types: ['SYSCALL', 'CWD', 'PATH', 'PROCTITLE'],
      keys: ['secrets'],
      summary: { actor: { primary: 'root', secondary: 'root' }, action: 'opened-file', object: { type: 'file', primary: '/etc/shadow' }, how: '/usr/bin/cat', result: 'fail' },
      process: { pid: 4242, ppid: 1, exe: '/usr/bin/cat', comm: 'cat', cwd: '/root', title: 'cat /etc/shadow', tty: 'pts0', ses: '3' },
      user: { auid: { id: 0, name: 'root' } },
      syscall: { name: 'openat', arch: 'x86_64', exit: -13, result: 'fail', args: ['AT_FDCWD', '0x7ffd', 'O_RDONLY', '0x0'] },
      paths: [{ item: 0, name: '/etc/shadow', nametype: 'NORMAL', inode: 42, mode: 'file,640', owner: { id: 0, name: 'root' } }],
    });
    expect(ev.key).toBe('secrets');
    expect(ev.toJSON().records[0].interpreted).toMatchObject({ syscall: 'openat', exit: 'EACCES(Permission denied)' });
  });
});

describe('summaries against go-libaudit aucoalesce goldens', () => {
  /** Where we pick a different object than go-libaudit, and why. */
  const DIFFERENT_OBJECT = new Map([
    ['ubuntu-17.04-linux-4.10.0.yaml unlink syscall', 'go-libaudit joins the DELETE path to its parent; we name the first PATH record, as it does for other file syscalls'],
  ]);
  const files = fs.readdirSync(corpusPath('go-libaudit/aucoalesce')).filter((f) => f.endsWith('.yaml') && f !== 'normalizations.yaml');

  it.each(files)('%s: action, object, how and result', async (file) => {
    const tests = (YAML.parse(readCorpus('go-libaudit/aucoalesce', file)) as { tests: Record<string, string | string[]> }).tests;
    const golden = JSON.parse(readCorpus('go-libaudit/aucoalesce', file.replace('.yaml', '.json.golden'))) as Array<{
      test_name: string;
      event: { result: string; summary?: { action?: string; object?: { type?: string; primary?: string }; how?: string } };
    }>;
    expect(golden.length).toBeGreaterThan(0);
    for (const g of golden) {
      const lines = tests[g.test_name];
      const [ev, ...more] = await events((Array.isArray(lines) ? lines.join('\n') : lines) + '\n');
      expect(more, g.test_name).toEqual([]);
      const s = ev.summary!;
      const want = g.event.summary ?? {};
      expect([s.action, s.object.type, s.result], g.test_name).toEqual([want.action, want.object?.type, g.event.result]);
      expect(s.how, g.test_name).toBe(want.how);
      if (!DIFFERENT_OBJECT.has(`${file} ${g.test_name}`)) expect(s.object.primary, g.test_name).toBe(want.object?.primary);
    }
  });
});
