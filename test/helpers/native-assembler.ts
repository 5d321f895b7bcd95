// The native assembler (native/assembler.cc) without a kernel: built with its
// harness (native/test/assemble-harness.cc), fed datagrams, its batches read
// back with the library's own batch reader. The same code the reader thread runs.
import { tempDir } from './temp.js';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RECORD_TYPE_CLASS } from '../../lib/constants/index.js';
import { EventBatch } from '../../lib/assemble/batch.js';
import type { AuditEvent } from '../../lib/assemble/event.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let built: { bin: string; table: string } | undefined;

function harness(): { bin: string; table: string } {
  if (built) return built;
  const dir = tempDir('linux-audit-harness-');
  const bin = path.join(dir, 'assemble-harness');
  // npm run test:sanitize runs the harness's tests (the fuzzing among them) under ASan and UBSan.
  const sanitize = process.env.LINUX_AUDIT_HARNESS_SANITIZE === '1' ? ['-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'] : [];
  execFileSync('c++', ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', ...sanitize, '-o', bin, path.join(root, 'native', 'test', 'assemble-harness.cc'), path.join(root, 'native', 'assembler.cc'), path.join(root, 'native', 'cgroup.cc')]);
  const table = path.join(dir, 'type-class');
  fs.writeFileSync(table, RECORD_TYPE_CLASS);
  return (built = { bin, table });
}

/** What the harness saw of the pool of freed blocks (assemble-harness pool). */
export function nativePoolCheck(): Record<string, unknown> {
  const run = spawnSync(harness().bin, ['pool']);
  if (run.status !== 0) throw new Error(`assemble-harness pool exited ${run.status}: ${run.stderr.toString()}`);
  return JSON.parse(run.stdout.toString()) as Record<string, unknown>;
}

export type Step = { datagram: Buffer; truncated?: boolean } | { clockMs: number } | 'publish' | 'flush';

export interface Assembled {
  batches: EventBatch[];
  events: AuditEvent[];
  /** Datagrams the reader would route to pending requests. */
  replies: Buffer[];
  stats: Record<string, number>;
}

/** Run the steps through the native assembler; options as the harness takes them (`maxInFlight=5`, `key=k`). */
export function assembleNative(steps: Step[], options: string[] = []): Assembled {
  const { bin, table } = harness();
  const parts: Buffer[] = [];
  for (const s of steps) {
    if (s === 'publish') parts.push(Buffer.from('P'));
    else if (s === 'flush') parts.push(Buffer.from('F'));
    else if ('clockMs' in s) {
      const b = Buffer.alloc(9);
      b.write('T');
      b.writeBigUInt64LE(BigInt(Math.round(s.clockMs * 1e6)), 1);
      parts.push(b);
    } else {
      const b = Buffer.alloc(9);
      b.write('D');
      b.writeUInt32LE(s.truncated ? 1 : 0, 1);
      b.writeUInt32LE(s.datagram.length, 5);
      parts.push(b, s.datagram);
    }
  }
  const run = spawnSync(bin, [table, ...options], { input: Buffer.concat(parts), maxBuffer: 1 << 30 });
  if (run.status !== 0) throw new Error(`assemble-harness exited ${run.status}: ${run.stderr.toString()}`);
  const out = run.stdout;
  const result: Assembled = { batches: [], events: [], replies: [], stats: {} };
  let at = 0;
  while (at < out.length) {
    const kind = String.fromCharCode(out[at++]);
    const length = out.readUInt32LE(at);
    at += 4;
    if (kind === 'B') {
      const data = Buffer.from(out.subarray(at, at + length));
      at += length;
      const words = out.readUInt32LE(at);
      at += 4;
      const index = new Uint32Array(words);
      for (let w = 0; w < words; w++) index[w] = out.readUInt32LE(at + w * 4);
      at += words * 4;
      const batch = new EventBatch(data, index);
      result.batches.push(batch);
      result.events.push(...batch);
    } else if (kind === 'C') {
      result.replies.push(Buffer.from(out.subarray(at, at + length)));
      at += length;
    } else if (kind === 'S') {
      result.stats = JSON.parse(out.subarray(at, at + length).toString()) as Record<string, number>;
      at += length;
    } else {
      throw new Error(`assemble-harness wrote an unknown frame ${kind}`);
    }
  }
  return result;
}

/** A netlink datagram as the kernel sends a record: nlmsghdr (host order, seq 0) + payload. */
export function recordDatagram(type: number, payload: string | Buffer, seq = 0): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const msg = Buffer.alloc(16 + body.length);
  msg.writeUInt32LE(body.length, 0); // unicast nlmsg_len counts the payload only; it must not matter
  msg.writeUInt16LE(type, 4);
  msg.writeUInt32LE(seq, 8);
  body.copy(msg, 16);
  return msg;
}
