// The disk spool: what it accepted is read back in order, after a restart
// too; what the receiver confirmed is gone; a torn tail is cut; full is counted.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/temp.js';
import { DiskSpool, MemorySpool, SpoolError, type Spool } from '../lib/sinks/spool.js';

const texts = (s: Spool): string[] => {
  const out: string[] = [];
  for (let i = 0; i < s.available(); i++) out.push(s.at(i).text);
  return out;
};
const msg = (i: number): string => `<14>1 - h linux-audit - SYSCALL - message ${i} ${'é'.repeat(i % 3)}`;

describe('disk spool', () => {
  it('gives back what it took, in order, after a restart; what was released stays released', () => {
    const dir = tempDir('linux-audit-spool-');
    const a = new DiskSpool(dir, { maxBytes: 1 << 20 });
    for (let i = 0; i < 10; i++) a.pushAll([msg(i)]);
    expect(a.length).toBe(10);
    expect(texts(a)).toEqual(Array.from({ length: 10 }, (_, i) => msg(i)));
    a.release(3);
    expect(a.length).toBe(7);
    a.close();
    const b = new DiskSpool(dir, { maxBytes: 1 << 20 });
    expect(b.recovered).toBe(7);
    expect(b.tornBytes).toBe(0);
    expect(texts(b)).toEqual(Array.from({ length: 7 }, (_, i) => msg(i + 3)));
    // Bytes on disk: each message and its 8-byte header.
    expect(b.bytes).toBe(Array.from({ length: 7 }, (_, i) => Buffer.byteLength(msg(i + 3)) + 8).reduce((x, y) => x + y));
    b.release(7);
    b.close();
    const c = new DiskSpool(dir, { maxBytes: 1 << 20 });
    expect(c.length).toBe(0);
    expect(c.available()).toBe(0);
    c.close();
    fs.rmSync(dir, { recursive: true });
  });

  it('across segments: read back from disk past the read-ahead, confirmed segments removed', () => {
    const dir = tempDir('linux-audit-spool-');
    const a = new DiskSpool(dir, { maxBytes: 1 << 20, segmentBytes: 200, readAhead: 4 });
    const all = Array.from({ length: 40 }, (_, i) => msg(i));
    for (const m of all) a.pushAll([m]);
    const segs = (): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.seg'));
    const many = segs().length;
    expect(many).toBeGreaterThan(5);
    const got: string[] = [];
    while (a.length > 0) {
      const n = a.available();
      expect(n).toBeLessThanOrEqual(4);
      got.push(...texts(a));
      a.release(n);
    }
    expect(got).toEqual(all);
    expect(segs().length).toBe(1); // the one being written
    a.close();
    fs.rmSync(dir, { recursive: true });
  });

  it('a record cut by a crash is cut off at the next start; the records before it and new ones are whole', () => {
    const dir = tempDir('linux-audit-spool-');
    const a = new DiskSpool(dir, { maxBytes: 1 << 20 });
    a.pushAll([msg(1), msg(2)]);
    a.close();
    const [seg] = fs.readdirSync(dir).filter((f) => f.endsWith('.seg'));
    // A header that promises 100 bytes, and 5 of them.
    const torn = Buffer.alloc(13);
    torn.writeUInt32LE(100, 0);
    fs.appendFileSync(path.join(dir, seg), torn);
    const b = new DiskSpool(dir, { maxBytes: 1 << 20 });
    expect(b.tornBytes).toBe(13);
    expect(b.recovered).toBe(2);
    b.pushAll([msg(3)]);
    expect(texts(b)).toEqual([msg(1), msg(2), msg(3)]);
    b.close();
    // A flipped byte inside a record: its checksum fails, it and what follows in the segment are cut.
    const file = path.join(dir, seg);
    const data = fs.readFileSync(file);
    data[data.length - 3] ^= 0xff;
    fs.writeFileSync(file, data);
    const c = new DiskSpool(dir, { maxBytes: 1 << 20 });
    expect(texts(c)).toEqual([msg(1), msg(2)]);
    c.close();
    fs.rmSync(dir, { recursive: true });
  });

  it('an ack file that points past every segment (damaged) is not trusted: everything is sent again, nothing deleted', () => {
    const dir = tempDir('linux-audit-spool-');
    const a = new DiskSpool(dir, { maxBytes: 1 << 20 });
    a.pushAll([msg(1), msg(2)]);
    a.close();
    const ack = Buffer.alloc(16);
    ack.writeBigUInt64LE(1n << 40n, 0);
    fs.writeFileSync(path.join(dir, 'ack'), ack);
    const b = new DiskSpool(dir, { maxBytes: 1 << 20 });
    expect(texts(b)).toEqual([msg(1), msg(2)]);
    b.close();
    fs.rmSync(dir, { recursive: true });
  });

  it('full: a message past the bound is dropped and counted, the others kept', () => {
    const dir = tempDir('linux-audit-spool-');
    const one = Buffer.byteLength(msg(0)) + 8;
    const a = new DiskSpool(dir, { maxBytes: one * 3 });
    a.pushAll([msg(0), msg(0), msg(0), msg(0)]);
    expect(a.push(msg(0))).toBe(false);
    expect(a.length).toBe(3);
    expect(a.dropped).toBe(2);
    a.release(1);
    expect(a.push(msg(0))).toBe(true);
    a.close();
    fs.rmSync(dir, { recursive: true });
  });

  it('one user at a time: a second spool on the same directory is refused while the first is open', () => {
    const dir = tempDir('linux-audit-spool-');
    const a = new DiskSpool(dir, { maxBytes: 1 << 20 });
    expect(() => new DiskSpool(dir, { maxBytes: 1 << 20 })).toThrow(SpoolError);
    a.close();
    new DiskSpool(dir, { maxBytes: 1 << 20 }).close();
    // An owner file left by a process that is gone (a crash) does not hold it.
    fs.writeFileSync(path.join(dir, 'owner'), '999999999\n');
    new DiskSpool(dir, { maxBytes: 1 << 20 }).close();
    const fresh = path.join(dir, 'fresh');
    new DiskSpool(fresh, { maxBytes: 1 << 20 }).close();
    expect((fs.statSync(fresh).mode & 0o777).toString(8)).toBe('700');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('memory spool', () => {
  it('holds messages up to its bytes, counts what it drops, forgets what is released', () => {
    const s = new MemorySpool(Buffer.byteLength(msg(0)) * 2);
    s.pushAll([msg(0), msg(0), msg(0)]);
    expect([s.length, s.dropped]).toEqual([2, 1]);
    s.release(1);
    expect(s.bytes).toBe(Buffer.byteLength(msg(0)));
  });
});
