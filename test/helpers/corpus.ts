// Access to test/corpus (real audit records from public projects; see its SOURCES.md).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The corpus is part of the repository (test/corpus); LINUX_AUDIT_CORPUS overrides. */
export const CORPUS = process.env.LINUX_AUDIT_CORPUS ?? path.resolve(here, '..', 'corpus');

export function corpusPath(...parts: string[]): string {
  return path.join(CORPUS, ...parts);
}

export function readCorpus(...parts: string[]): string {
  return fs.readFileSync(corpusPath(...parts), 'utf8');
}

export function listCorpus(dir: string, suffix: string): string[] {
  return fs
    .readdirSync(corpusPath(dir))
    .filter((f) => f.endsWith(suffix))
    .sort();
}

/** Lines of a log file as auditd wrote them (no newline conversion; trailing newline optional). */
export function logLines(...parts: string[]): string[] {
  const text = readCorpus(...parts);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** A netlink datagram as the kernel sends it: nlmsghdr (host order) + payload text. */
export function datagram(type: number, payload: string, seq = 0): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const msg = Buffer.alloc(16 + body.length);
  msg.writeUInt32LE(body.length, 0); // unicast nlmsg_len counts the payload only; we must not care
  msg.writeUInt16LE(type, 4);
  msg.writeUInt32LE(seq, 8);
  body.copy(msg, 16);
  return msg;
}

/** A batch as the native reader hands it over: one buffer, (offset, length, type) per datagram. */
export function batch(messages: Buffer[]): { data: Buffer; index: Uint32Array } {
  const data = Buffer.concat(messages);
  const index = new Uint32Array(messages.length * 3);
  let offset = 0;
  messages.forEach((m, i) => {
    index[i * 3] = offset;
    index[i * 3 + 1] = m.length;
    index[i * 3 + 2] = m.readUInt16LE(4);
    offset += m.length;
  });
  return { data, index };
}
