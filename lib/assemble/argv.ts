// The command line an execve's EXECVE records hold, as bytes: the event's
// argv decodes it, the agent's argv cap cuts it.
import type { AuditRecord } from '../decode/record.js';
import { hexBytes, isEncodedHex } from '../decode/fields.js';

export interface CommandLine {
  /** Each argument's bytes, in index order. */
  args: Buffer[];
  /** The records do not hold all they claim (or the agent cut them): see AuditEvent.argvIncomplete. */
  incomplete: boolean;
  /** The `argc` the first record claims, when it is a number. */
  claimed: number | undefined;
}

/** The number in key[start, end) when it is only decimal digits (at most 9: an index, not a claim), else -1. */
function argIndex(key: string, start: number, end: number): number {
  if (end <= start || end - start > 9) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/** A value's bytes: hex decoded unless it was quoted (hexBytes returns a scratch view, so copied). */
function valueBytes(value: string, quoted: boolean): Buffer {
  return quoted || !isEncodedHex(value, 0, value.length) ? Buffer.from(value, 'utf8') : Buffer.from(hexBytes(value, 0, value.length));
}

/**
 * Arguments split by the kernel into `aN_len`, `aN[0]`, `aN[1]`… (possibly
 * over several records) are joined back as bytes. Built only from the
 * arguments present, in index order: `argc` is a claim the record makes.
 */
export function commandLineOf(execves: AuditRecord[]): CommandLine {
  const claimedText = execves[0].fields.argc;
  const claimed = claimedText !== undefined && /^\d{1,10}$/.test(claimedText) ? Number(claimedText) : undefined;
  // Maps, not arrays indexed by n: the indices are the record's text, and an
  // index of 4294967294 must not make a sparse array to walk.
  const whole = new Map<number, Buffer>();
  const chunks = new Map<number, Map<number, Buffer>>();
  let incomplete = false;
  for (const r of execves) {
    if (r.cutBytes !== undefined) incomplete = true;
    for (const f of r.rawFields()) {
      if (f.key.charCodeAt(0) !== 97) continue;
      const bracket = f.key.indexOf('[');
      if (bracket < 0) {
        const n = argIndex(f.key, 1, f.key.length);
        if (n >= 0) whole.set(n, valueBytes(f.value, f.quoted));
        continue;
      }
      const n = argIndex(f.key, 1, bracket);
      const i = f.key.endsWith(']') ? argIndex(f.key, bracket + 1, f.key.length - 1) : -1;
      if (n < 0 || i < 0) continue;
      let parts = chunks.get(n);
      if (!parts) chunks.set(n, (parts = new Map()));
      parts.set(i, valueBytes(f.value, f.quoted));
    }
  }
  const indices = [...new Set([...whole.keys(), ...chunks.keys()])].sort((a, b) => a - b);
  const args: Buffer[] = [];
  for (let k = 0; k < indices.length; k++) {
    const n = indices[k];
    if (n !== k) incomplete = true;
    const w = whole.get(n);
    if (w !== undefined) {
      args.push(w);
      continue;
    }
    const parts = chunks.get(n)!;
    const order = [...parts.keys()].sort((a, b) => a - b);
    if (order[order.length - 1] !== order.length - 1) incomplete = true;
    args.push(Buffer.concat(order.map((i) => parts.get(i)!)));
  }
  if (claimed !== args.length) incomplete = true;
  return { args, incomplete, claimed };
}

/**
 * A value written as the kernel writes an untrusted string
 * (audit_log_n_untrustedstring): quoted when every byte is printable ASCII
 * other than `"`, else upper-case hex.
 */
export function kernelValue(bytes: Buffer): string {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 0x22 || c < 0x21 || c > 0x7e) return bytes.toString('hex').toUpperCase();
  }
  return `"${bytes.toString('latin1')}"`;
}
