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

/** Set (<< 16) in a batch index entry by the native reader: the datagram was longer than its slot. */
export const DATAGRAM_TRUNCATED = 1 << 16;

/** Record type name → number, the reverse of RECORD_TYPE_NAMES. */
export const RECORD_TYPES: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(RECORD_TYPE_NAMES).map(([n, name]) => [name, Number(n)]),
);

/** The record types the rest of the library branches on. */
export const EOE = RECORD_TYPES.EOE;
export const SYSCALL = RECORD_TYPES.SYSCALL;
export const EXECVE = RECORD_TYPES.EXECVE;
export const PROCTITLE = RECORD_TYPES.PROCTITLE;
export const REPLACE = RECORD_TYPES.REPLACE;

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
 * Whether a record of this type is an event on its own. User-space and daemon
 * messages (1100-1299, 2100-2999) are never followed by more records or an EOE.
 */
export function isSingleRecordType(type: number): boolean {
  return (type >= 1100 && type <= 1299) || (type >= 2100 && type <= 2999);
}
