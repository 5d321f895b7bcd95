import { describe, expect, it } from 'vitest';
import { Assembler } from '../lib/assemble/assembler.js';
import type { AuditEvent } from '../lib/assemble/event.js';
import { AuditRecord, parseLogLine } from '../lib/decode/record.js';
import { readAuditLog } from '../lib/logfile/read.js';
import { listCorpus, logLines, readCorpus } from './helpers/corpus.js';
import { assembleNative, recordDatagram } from './helpers/native-assembler.js';

function records(lines: string[]): AuditRecord[] {
  return lines.filter((l) => l !== '' && !l.startsWith('#')).map((l) => parseLogLine(l)!);
}

describe('go-libaudit reassembler cases', () => {
  const expected = JSON.parse(readCorpus('go-libaudit/reassembler/expected.json')) as {
    settings: { max_in_flight: number; timeout_seconds: number };
    cases: Record<string, { lost: number; events: Array<{ seq: number; count: number }> }>;
  };
  it.each(Object.keys(expected.cases))('%s', (file) => {
    const want = expected.cases[file];
    const events: AuditEvent[] = [];
    const a = new Assembler((e) => events.push(e), {
      maxInFlight: expected.settings.max_in_flight,
      timeoutMs: expected.settings.timeout_seconds * 1000,
      expectEndOfEvent: false,
    });
    for (const r of records(logLines('go-libaudit/reassembler', file))) a.push(r, 0);
    a.flush();
    expect(events.map((e) => ({ seq: e.serial, count: e.records.length }))).toEqual(want.events);
    expect(a.stats.serialGaps).toBe(want.lost);
  });
});

describe('assembly rules', () => {
  const line = (type: string, serial: number, body = 'a=1') => parseLogLine(`type=${type} msg=audit(1700000000.000:${serial}): ${body}`)!;

  it('ends a syscall event at EOE and not before, with other events interleaved', () => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e));
    a.push(line('SYSCALL', 10), 0);
    a.push(line('SYSCALL', 11), 0);
    a.push(line('CWD', 10), 0);
    a.push(line('PATH', 11), 0);
    a.push(line('EOE', 11), 0);
    expect(out.map((e) => e.serial)).toEqual([11]);
    a.push(line('PATH', 10), 0);
    a.push(line('EOE', 10), 0);
    expect(out.map((e) => [e.serial, e.records.map((r) => r.typeName)])).toEqual([
      [11, ['SYSCALL', 'PATH']],
      [10, ['SYSCALL', 'CWD', 'PATH']],
    ]);
    expect(out.every((e) => !e.incomplete)).toBe(true);
  });

  it('hands out user-space messages at once', () => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e));
    a.push(line('USER_LOGIN', 5), 0);
    a.push(line('ANOM_LOGIN_FAILURES', 6), 0);
    expect(out.map((e) => e.serial)).toEqual([5, 6]);
    expect(a.pending).toBe(0);
  });

  it('hands out an event incomplete when it waited too long', () => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e), { timeoutMs: 2000 });
    a.push(line('SYSCALL', 1), 1000);
    a.push(line('SYSCALL', 2), 2500);
    a.expire(2999);
    expect(out).toEqual([]);
    a.expire(3000);
    expect(out.map((e) => [e.serial, e.incomplete])).toEqual([[1, true]]);
    expect(a.stats.incomplete).toBe(1);
    expect(a.pending).toBe(1);
  });

  it('does not call an event incomplete when it has no record of a syscall exit (it never gets an EOE)', () => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e), { timeoutMs: 2000 });
    a.push(line('CONFIG_CHANGE', 1, 'auid=0 ses=1 op=add_rule key="k" list=4 res=1'), 0);
    a.push(line('SYSCALL', 2), 0);
    a.expire(2000);
    expect(out.map((e) => [e.records[0].typeName, e.incomplete])).toEqual([
      ['CONFIG_CHANGE', false],
      ['SYSCALL', true],
    ]);
    expect(a.stats.incomplete).toBe(1);
  });

  it('bounds events in flight, oldest out first', () => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e), { maxInFlight: 2 });
    for (const s of [1, 2, 3, 4]) a.push(line('SYSCALL', s), 0);
    expect(out.map((e) => e.serial)).toEqual([1, 2]);
    expect(a.pending).toBe(2);
  });

  it('counts an EOE that comes after its event was handed out, without making an event of it', () => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e), { maxInFlight: 1 });
    a.push(line('SYSCALL', 1), 0);
    a.push(line('SYSCALL', 2), 0);
    a.push(line('EOE', 1), 0);
    expect(out.map((e) => e.serial)).toEqual([1]);
    expect(a.stats.strayEndOfEvent).toBe(1);
  });

  it('keeps events of different nodes apart even with the same serial', () => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e));
    a.push(parseLogLine('node=a type=SYSCALL msg=audit(1.000:7): x=1')!, 0);
    a.push(parseLogLine('node=b type=SYSCALL msg=audit(1.000:7): x=2')!, 0);
    a.flush();
    expect(out.map((e) => [e.node, e.records.length])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });

  it('delivers a record without a header as an event of its own, marked', () => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e));
    a.push(AuditRecord.fromText(1300, 'garbage'), 0);
    expect(out).toHaveLength(1);
    expect(out[0].records[0].malformed).toBeDefined();
  });
});

describe('laurel events (EOE-terminated streams)', () => {
  const cases = listCorpus('laurel', '.json').map((f) => f.replace(/\.json$/, ''));

  it.each(cases)('%s: same events, same record types, same argv', (name) => {
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e));
    for (const r of records(logLines('laurel', `${name}.txt`))) a.push(r, 0);
    a.flush();
    const laurel = readCorpus('laurel', `${name}.json`)
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ours = new Map(out.map((e) => [`${Math.floor(e.time / 1000)}.${String(e.time % 1000).padStart(3, '0')}:${e.serial}`, e]));
    expect(laurel.length).toBeGreaterThan(0);
    for (const ev of laurel) {
      const id = ev.ID as string;
      const mine = ours.get(id);
      expect(mine, id).toBeDefined();
      const laurelTypes = Object.keys(ev).filter((k) => /^[A-Z_]+$/.test(k) && k !== 'ID' && k !== 'NODE' && k !== 'PARENT_INFO' && k !== 'CONTAINER_INFO');
      const ourTypes = new Set(mine!.records.map((r) => r.typeName));
      for (const t of laurelTypes) expect(ourTypes.has(t), `${id} has ${t}`).toBe(true);
      const execve = ev.EXECVE as { ARGV?: string[] } | undefined;
      if (execve?.ARGV) {
        // laurel %-escapes bytes that are not printable; ours are decoded text.
        expect(mine!.argv!.map((s) => s.replace(/[^\x20-\x7e]/gu, (ch) => [...Buffer.from(ch)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')))).toEqual(execve.ARGV);
      }
    }
    expect(out.every((e) => !e.incomplete)).toBe(true);
  });
});

describe('EXECVE argv', () => {
  it('joins an argument split into aN[i] chunks over several records', () => {
    const lines = logLines('laurel', 'record-execve-long.txt');
    const chunks = lines.flatMap((l) => [...l.matchAll(/ a1\[(\d+)\]=([0-9A-F]+)/g)].map((m) => [Number(m[1]), m[2]] as const));
    const expected = Buffer.concat(chunks.sort((x, y) => x[0] - y[0]).map(([, hex]) => Buffer.from(hex, 'hex'))).toString('utf8');
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e));
    for (const r of records(lines)) a.push(r, 0);
    a.flush();
    const ev = out.find((e) => e.argv !== undefined)!;
    expect(ev.records.filter((r) => r.typeName === 'EXECVE').length).toBeGreaterThan(1);
    expect(chunks.length).toBeGreaterThan(1);
    expect(ev.argv).toEqual(['/bin/echo', expected]);
  });

  it('joins hex chunks as bytes, so a character split between chunks survives', () => {
    const arg = 'ü x'.repeat(3);
    const hex = Buffer.from(arg).toString('hex').toUpperCase();
    const cut = 3; // inside the two bytes of ü
    const lines = [
      `type=EXECVE msg=audit(1.000:9): argc=2 a0="sh" a1_len=${hex.length / 2} a1[0]=${hex.slice(0, cut * 2)}`,
      `type=EXECVE msg=audit(1.000:9): a1[1]=${hex.slice(cut * 2)}`,
      'type=EOE msg=audit(1.000:9): ',
    ];
    const out: AuditEvent[] = [];
    const a = new Assembler((e) => out.push(e));
    for (const r of records(lines)) a.push(r, 0);
    expect(out[0].argv).toEqual(['sh', arg]);
  });
});

describe('events from the native reader equal events from the log', () => {
  it('assembles corpus records, handed over in two batches, as the log reader does', async () => {
    const lines = logLines('laurel', 'shell-proc-trace-confusion.txt').filter((l) => l !== '' && !l.startsWith('#'));
    const fromLog: AuditEvent[] = [];
    for await (const e of readAuditLog([lines.join('\n') + '\n'], { expectEndOfEvent: true })) fromLog.push(e);
    const datagrams = lines.map((l) => {
      const r = parseLogLine(l)!;
      return { datagram: recordDatagram(r.type, r.text) };
    });
    // Handed over at an arbitrary point, as the reader might.
    const { events, batches } = assembleNative([...datagrams.slice(0, 61), 'publish', ...datagrams.slice(61), 'flush']);
    expect(batches.length).toBe(2);
    expect(events.length).toBeGreaterThan(0);
    expect(events.map((e) => e.toJSON())).toEqual(fromLog.map((e) => e.toJSON()));
  });
});

describe('readAuditLog', () => {
  it('reads a file in tiny chunks the same as whole (auparse Test 10 style)', async () => {
    const text = readCorpus('audit-userspace/auparse-test/test.log');
    const whole: unknown[] = [];
    for await (const e of readAuditLog([text])) whole.push(e.toJSON());
    const bytes = Buffer.from(text);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 4) chunks.push(bytes.subarray(i, i + 4));
    const pieces: unknown[] = [];
    for await (const e of readAuditLog(chunks)) pieces.push(e.toJSON());
    expect(pieces).toEqual(whole);
    expect(whole.length).toBeGreaterThan(0);
  });

  it('reads a chunk of many pieces (and a line longer than one) as small chunks, handing out events before the chunk ends', async () => {
    // Events of the corpus given serials of their own, over 256 KiB, with a
    // 100 KiB line in the middle: more than the 64 KiB the reader takes at once.
    const lines = readCorpus('go-libaudit/auparse/audit-rhel7.log')
      .split('\n')
      .filter((l) => l.startsWith('type=') && parseLogLine(l)?.malformed === undefined);
    const out: string[] = [];
    for (let serial = 1; out.join('\n').length < 300_000; serial++) {
      for (const l of lines) out.push(l.replace(/audit\(\d+\.\d+:\d+\)/, `audit(1700000000.000:${serial})`));
      if (serial === 20) out.push(`type=USER msg=audit(1700000000.000:${serial + 100000}): pid=1 msg='${'x'.repeat(100_000)}'`);
    }
    const bytes = Buffer.from(out.join('\n') + '\n');
    const whole = readAuditLog([bytes]);
    const wholeEvents: unknown[] = [];
    let linesAtFirstEvent = -1;
    for await (const e of whole) {
      if (linesAtFirstEvent < 0) linesAtFirstEvent = whole.stats.lines;
      wholeEvents.push(e.toJSON());
    }
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 1000) chunks.push(bytes.subarray(i, i + 1000));
    const small = readAuditLog(chunks);
    const smallEvents: unknown[] = [];
    for await (const e of small) smallEvents.push(e.toJSON());
    expect(wholeEvents).toEqual(smallEvents);
    expect(whole.stats).toEqual(small.stats);
    expect(whole.stats.lines).toBe(out.length);
    expect(whole.stats.malformed).toBe(0);
    expect(wholeEvents.some((e) => JSON.stringify(e).includes('x'.repeat(100_000)))).toBe(true);
    // The first events came out after the first piece, not after the whole chunk.
    expect(linesAtFirstEvent).toBeGreaterThan(0);
    expect(linesAtFirstEvent).toBeLessThan(out.length / 3);
  });

  it('hands out every event once and in order to calls of next() made before the last one settled', async () => {
    const text = readCorpus('audit-userspace/auparse-test/test.log');
    const serials: number[] = [];
    for await (const e of readAuditLog([text])) serials.push(e.serial);
    expect(new Set(serials).size).toBeGreaterThan(3);
    // Lines one by one: read() yields many arrays of events, some empty.
    const lines = text.split(/(?<=\n)/);
    const events = readAuditLog(lines);
    const results = await Promise.all(Array.from({ length: serials.length + 2 }, () => events.next()));
    expect(results.slice(0, serials.length).map((r) => (r.done ? 'done' : r.value.serial))).toEqual(serials);
    expect(results.slice(serials.length).map((r) => r.done)).toEqual([true, true]);
  });

  it('stops reading its source when the loop ends early, and on dispose', async () => {
    const text = readCorpus('audit-userspace/auparse-test/test.log');
    let pulled = 0;
    let closed = 0;
    async function* source() {
      try {
        for (const line of text.split(/(?<=\n)/)) {
          pulled++;
          yield line;
        }
      } finally {
        closed++;
      }
    }
    for await (const e of readAuditLog(source())) {
      expect(e.records.length).toBeGreaterThan(0);
      break;
    }
    expect(closed).toBe(1);
    expect(pulled).toBeLessThan(text.split('\n').length / 2);
    const events = readAuditLog(source());
    expect((await events.next()).done).toBe(false);
    await events[Symbol.asyncDispose]();
    expect(closed).toBe(2);
    expect((await events.next()).done).toBe(true);
    // Ended while a next() waits for the first piece (the whole log, many events): that next() gets its event, no later one does.
    const whole = readAuditLog([text]);
    const waiting = whole.next();
    await whole.return();
    expect((await waiting).done).toBe(false);
    expect((await whole.next()).done).toBe(true);
    // The same ended by throw(): the error comes back, and then nothing more.
    const thrown = readAuditLog([text]);
    const first = thrown.next();
    await expect(thrown.throw(new Error('stop'))).rejects.toThrow('stop');
    expect((await first).done).toBe(false);
    expect((await thrown.next()).done).toBe(true);
  });

  it('groups test.log as libauparse does (records per event, auparse_test.ref Test 4)', async () => {
    const ref = readCorpus('audit-userspace/auparse-test/auparse_test.ref').split('\n');
    const start = ref.findIndex((l) => l.startsWith('Starting Test 4'));
    const end = ref.findIndex((l, i) => i > start && l.startsWith('Starting Test 5'));
    // Each event prints "event N has K records", then its records, each with "event time: S.MS:SERIAL".
    const expected = new Map<number, number>();
    let count = 0;
    for (const l of ref.slice(start, end)) {
      const has = /^event \d+ has (\d+) records/.exec(l);
      if (has) count = Number(has[1]);
      const time = /event time: \d+\.\d+:(\d+)/.exec(l);
      if (time && !expected.has(Number(time[1]))) expected.set(Number(time[1]), count);
    }
    expect(expected.size).toBeGreaterThan(0);
    const ours = new Map<number, number>();
    for await (const e of readAuditLog([readCorpus('audit-userspace/auparse-test/test.log')])) ours.set(e.serial, e.records.length);
    expect(ours).toEqual(expected);
  });
});
