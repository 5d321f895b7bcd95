// An audit rule as the kernel holds it (struct audit_rule_data), and its bytes.
import { FILTER, RULE_FIELD, RULE_LIMITS } from '../constants/index.js';
import { isStringField } from './tables.js';

export interface RuleField {
  /** RULE_FIELD id, e.g. 105 for path. */
  field: number;
  /** OPERATOR value, e.g. 0x40000000 for `=`. */
  op: number;
  /** The number, or for string fields its length in bytes. */
  value: number;
  /** String fields (path, dir, key, exe, subj_*, obj_*): the text. Several keys are joined by 0x01. */
  text?: string;
}

export interface AuditRule {
  /** FILTER list: user 0, task 1, exit 4, exclude 5, filesystem 6, io_uring 7. */
  list: number;
  /** -A: checked before the rules already on the list. */
  prepend: boolean;
  /** ACTION: never 0, always 2. */
  action: number;
  /** 64 words; bit n = syscall n of the rule's arch. */
  mask: Uint32Array;
  fields: RuleField[];
}

const HEADER = 4 * (3 + 64 * 4 + 1); // flags, action, field_count, mask, fields, values, fieldflags, buflen
const BITMASK = RULE_LIMITS.BITMASK_SIZE;
const MAX_FIELDS = RULE_LIMITS.MAX_FIELDS;

/** True when every syscall is selected (word 63 holds the kernel's class bits, so it is not compared). */
export function allSyscalls(mask: Uint32Array): boolean {
  for (let i = 0; i < BITMASK - 1; i++) if (mask[i] !== 0xffffffff) return false;
  return true;
}

export function hasSyscalls(mask: Uint32Array): boolean {
  return mask.some((w) => w !== 0);
}

/** struct audit_rule_data as auditctl sends it (AUDIT_ADD_RULE, AUDIT_DEL_RULE): no padding. */
export function encodeRule(rule: AuditRule): Buffer {
  if (rule.fields.length > MAX_FIELDS) throw new RangeError(`a rule holds at most ${MAX_FIELDS} fields, this one has ${rule.fields.length}`);
  const strings = rule.fields.map((f) => (isStringField(f.field) ? Buffer.from(f.text ?? '', 'utf8') : undefined));
  const buflen = strings.reduce((n, s) => n + (s?.length ?? 0), 0);
  const buf = Buffer.alloc(HEADER + buflen);
  buf.writeUInt32LE((rule.list | (rule.prepend ? FILTER.PREPEND : 0)) >>> 0, 0);
  buf.writeUInt32LE(rule.action >>> 0, 4);
  buf.writeUInt32LE(rule.fields.length, 8);
  for (let i = 0; i < BITMASK; i++) buf.writeUInt32LE(rule.mask[i] >>> 0, 12 + i * 4);
  const fieldsAt = 12 + BITMASK * 4;
  const valuesAt = fieldsAt + MAX_FIELDS * 4;
  const flagsAt = valuesAt + MAX_FIELDS * 4;
  let at = HEADER;
  rule.fields.forEach((f, i) => {
    buf.writeUInt32LE(f.field >>> 0, fieldsAt + i * 4);
    const s = strings[i];
    buf.writeUInt32LE((s ? s.length : f.value) >>> 0, valuesAt + i * 4);
    buf.writeUInt32LE(f.op >>> 0, flagsAt + i * 4);
    if (s) at += s.copy(buf, at);
  });
  buf.writeUInt32LE(buflen, HEADER - 4);
  return buf;
}

/** A rule from struct audit_rule_data bytes (an AUDIT_LIST_RULES reply, padded or not). */
export function decodeRule(data: Uint8Array): AuditRule {
  if (data.length < HEADER) throw new Error(`audit rule data is ${data.length} bytes, shorter than the ${HEADER}-byte header`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const u32 = (at: number) => view.getUint32(at, true);
  const flags = u32(0);
  const count = u32(8);
  if (count > MAX_FIELDS) throw new Error(`audit rule data claims ${count} fields; the most is ${MAX_FIELDS}`);
  const buflen = u32(HEADER - 4);
  if (HEADER + buflen > data.length) throw new Error(`audit rule data claims ${buflen} bytes of strings but has ${data.length - HEADER}`);
  const mask = new Uint32Array(BITMASK);
  for (let i = 0; i < BITMASK; i++) mask[i] = u32(12 + i * 4);
  const fieldsAt = 12 + BITMASK * 4;
  const valuesAt = fieldsAt + MAX_FIELDS * 4;
  const flagsAt = valuesAt + MAX_FIELDS * 4;
  const fields: RuleField[] = [];
  let at = HEADER;
  for (let i = 0; i < count; i++) {
    const field = u32(fieldsAt + i * 4);
    const value = u32(valuesAt + i * 4);
    const f: RuleField = { field, op: u32(flagsAt + i * 4), value };
    if (isStringField(field)) {
      if (at + value > HEADER + buflen) throw new Error(`audit rule data: string of field ${field} runs past the buffer`);
      f.text = Buffer.from(data.buffer, data.byteOffset + at, value).toString('utf8');
      at += value;
    }
    fields.push(f);
  }
  return { list: flags & ~FILTER.PREPEND, prepend: (flags & FILTER.PREPEND) !== 0, action: u32(4), mask, fields };
}

/** The keys of a rule (the key field split at 0x01). */
export function ruleKeys(rule: AuditRule): string[] {
  const key = rule.fields.find((f) => f.field === RULE_FIELD.FILTERKEY);
  return key?.text ? key.text.split('\x01') : [];
}
