import { RECORD_TYPE_NAMES } from './generated.js';

export { RECORD_TYPE_NAMES, MSG, STATUS_MASK, FEATURE, FEATURE_BITMAP, FILTER, RULE_FIELD, COMPARE, OPERATOR, ARCH, ACTION, PERM, RULE_LIMITS, ERRNO } from './generated.js';

/** Netlink core message types and flags (linux/netlink.h). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLMSG_HDRLEN = 16;

/** Record type name → number, the reverse of RECORD_TYPE_NAMES. Without a prototype: log lines name the key (`type=constructor`). */
export const RECORD_TYPES: Readonly<Record<string, number>> = Object.assign(
  Object.create(null) as Record<string, number>,
  Object.fromEntries(Object.entries(RECORD_TYPE_NAMES).map(([n, name]) => [name, Number(n)])),
);

/** The record types the rest of the library branches on. */
export const EOE = RECORD_TYPES.EOE;
export const SYSCALL = RECORD_TYPES.SYSCALL;
export const EXECVE = RECORD_TYPES.EXECVE;
export const PROCTITLE = RECORD_TYPES.PROCTITLE;
export const REPLACE = RECORD_TYPES.REPLACE;
export const AVC = RECORD_TYPES.AVC;

const unknownNames = new Map<number, string>();

/** The name auditd prints for a record type, or `UNKNOWN[n]` as auditd does. */
export function recordTypeName(type: number): string {
  const name = RECORD_TYPE_NAMES[type];
  if (name !== undefined) return name;
  let unknown = unknownNames.get(type);
  if (unknown === undefined) {
    unknown = `UNKNOWN[${type}]`;
    if (unknownNames.size < 4096) unknownNames.set(type, unknown);
  }
  return unknown;
}

/** The record type number for a `type=` name, including `UNKNOWN[n]`; -1 if not a type. */
export function recordTypeNumber(name: string): number {
  const known = RECORD_TYPES[name];
  if (known !== undefined) return known;
  if (name.startsWith('UNKNOWN[') && name.endsWith(']')) {
    const digits = name.slice(8, -1);
    if (/^\d{1,5}$/.test(digits)) return Number(digits);
  }
  return -1;
}

/**
 * What a record type means to event assembly, in one table for both
 * assemblers: the native reader's (live, native/assembler.cc, which is given
 * this table) and lib/assemble's (log files).
 * - single: an event on its own. User-space and daemon messages (1100-1299,
 *   2100-2999, and AUDIT_USER, 1005, the old form of a user message) are
 *   never followed by more records or an EOE.
 * - exit: written only at the exit of an audited syscall (or io_uring op), in
 *   events the kernel always ends with EOE. An event holding none of them (a
 *   CONFIG_CHANGE from a process excluded from auditing, a kernel thread's
 *   record) never gets an EOE: when a bound hands it out, nothing is missing.
 * - end: EOE. ignored: AUDIT_REPLACE, the kernel's binary probe of the
 *   registered daemon, not a record.
 * - waits: everything else; part of an event that ends with EOE or a bound.
 */
export const TYPE_WAITS = 0;
export const TYPE_SINGLE = 1;
export const TYPE_EXIT = 2;
export const TYPE_END = 3;
export const TYPE_IGNORED = 4;

export const RECORD_TYPE_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(65536);
  table.fill(TYPE_SINGLE, 1100, 1300);
  table.fill(TYPE_SINGLE, 2100, 3000);
  table[RECORD_TYPES.USER] = TYPE_SINGLE;
  for (const name of ['SYSCALL', 'URINGOP', 'CWD', 'PATH', 'EXECVE', 'PROCTITLE', 'SOCKADDR']) table[RECORD_TYPES[name]] = TYPE_EXIT;
  table[EOE] = TYPE_END;
  table[REPLACE] = TYPE_IGNORED;
  return table;
})();
