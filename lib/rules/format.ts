// A rule back to the text `auditctl -l` prints, character for character (as
// auditctl 3.0.x prints it: arch as b64/b32, exit as an errno name, a0-a3 in
// hex, a watch on a directory without a trailing slash).
import { FILTER, RECORD_TYPE_NAMES, RULE_FIELD } from '../constants/index.js';
import { allSyscalls, type AuditRule } from './rule.js';
import {
  ACTION_NAMES,
  COMPARISON_FIELDS,
  ERRNO_NAMES,
  FIELD_NAMES,
  FSTYPES,
  LIST_NAMES,
  OPERATOR_SYMBOLS,
  hostMachine,
  machineByArch,
  machineByName,
  syscallName,
  type Machine,
} from './tables.js';

const FSTYPE_NAMES = new Map<number, string>([...FSTYPES].map(([n, v]) => [v, n]));

/** auditctl lists a rule as a watch when it has a perm field, only watch fields, and every syscall. */
function isWatch(rule: AuditRule): boolean {
  let perm = false;
  for (const f of rule.fields) {
    if (f.field === RULE_FIELD.PERM) perm = true;
    else if (f.field !== RULE_FIELD.FILTERKEY && f.field !== RULE_FIELD.DIR && f.field !== RULE_FIELD.WATCH) return false;
  }
  const noSyscalls = rule.list === FILTER.USER || rule.list === FILTER.TASK || rule.list === FILTER.EXCLUDE;
  return perm && (noSyscalls || allSyscalls(rule.mask));
}

function permLetters(bits: number): string {
  return (bits & 4 ? 'r' : '') + (bits & 2 ? 'w' : '') + (bits & 1 ? 'x' : '') + (bits & 8 ? 'a' : '');
}

function archText(arch: number, host: Machine): string {
  if (arch === host.arch) return host.bits === 64 ? 'b64' : 'b32';
  const compat = host.compat ? machineByName(host.compat) : undefined;
  if (compat && arch === compat.arch) return 'b32';
  return machineByArch(arch)?.name ?? `0x${arch.toString(16).toUpperCase()}`;
}

export interface FormatOptions {
  /** The machine b64/b32 refer to. Default: this host. */
  machine?: string;
  /**
   * Escape what the rule parser would split on or unquote (space, tab,
   * backslash, quotes) with a backslash, so the line parses back to the same
   * rule, and keep watches in their -a form: for rules kept as text
   * (journals). `auditctl -l` prints values raw and watches as -w.
   */
  parseable?: boolean;
}

/** A value with the characters the tokenizer treats specially escaped by a backslash. */
function escapeValue(text: string | undefined): string {
  return (text ?? '').replace(/[\\ \t"']/g, (c) => `\\${c}`);
}

/** The line `auditctl -l` prints for this rule (parseable: one that reads back to it). */
export function formatRule(rule: AuditRule, options: FormatOptions = {}): string {
  const value = options.parseable ? escapeValue : (t: string | undefined): string => t ?? '';
  const host = (options.machine !== undefined ? machineByName(options.machine) : undefined) ?? hostMachine();
  // auditctl -l prints a watch as -w PATH, which a parser reads back with the
  // path's trailing slash gone and watch or dir chosen by what is on disk now:
  // the parseable form keeps the -a form, which reads back exactly.
  const watch = !options.parseable && isWatch(rule);
  let out = '';
  let machine = host;
  if (!watch) {
    out += `-a ${ACTION_NAMES.get(rule.action) ?? rule.action},${LIST_NAMES.get(rule.list) ?? rule.list}`;
    for (const f of rule.fields) {
      if (f.field !== RULE_FIELD.ARCH) continue;
      out += ` -F arch${OPERATOR_SYMBOLS.get(f.op) ?? '='}${archText(f.value, host)}`;
      machine = machineByArch(f.value) ?? machine;
    }
    if (rule.list !== FILTER.USER && rule.list !== FILTER.TASK && rule.list !== FILTER.EXCLUDE && rule.list !== FILTER.FS) {
      if (allSyscalls(rule.mask)) out += ' -S all';
      else {
        const names: string[] = [];
        for (let nr = 0; nr < rule.mask.length * 32; nr++) {
          if (rule.mask[nr >>> 5] & (1 << (nr & 31))) names.push(syscallName(machine, nr) ?? String(nr));
        }
        if (names.length > 0) out += ` -S ${names.join(',')}`;
      }
    }
  }
  for (const f of rule.fields) {
    if (f.field === RULE_FIELD.ARCH) continue;
    const name = FIELD_NAMES.get(f.field);
    const op = OPERATOR_SYMBOLS.get(f.op) ?? '=';
    const signed = f.value | 0;
    if (name === undefined) {
      out += ` f${f.field}${op}${signed}`;
    } else if (f.field === RULE_FIELD.MSGTYPE) {
      out += ` -F ${name}${op}${RECORD_TYPE_NAMES[f.value] ?? signed}`;
    } else if (f.field === RULE_FIELD.WATCH || f.field === RULE_FIELD.DIR) {
      out += watch ? `-w ${value(f.text)}` : ` -F ${name}=${value(f.text)}`;
    } else if (f.field === RULE_FIELD.FILTERKEY) {
      for (const key of (f.text ?? '').split('\x01')) if (key !== '') out += watch ? ` -k ${value(key)}` : ` -F key=${value(key)}`;
    } else if (f.text !== undefined) {
      out += ` -F ${name}${op}${value(f.text)}`;
    } else if (f.field === RULE_FIELD.PERM) {
      out += watch ? ` -p ${permLetters(f.value)}` : ` -F perm=${permLetters(f.value)}`;
    } else if (f.field === RULE_FIELD.INODE) {
      out += ` -F ${name}${op}${f.value >>> 0}`;
    } else if (f.field === RULE_FIELD.FIELD_COMPARE) {
      const pair = COMPARISON_FIELDS.get(f.value);
      if (pair) out += ` -C ${pair[0]}${op}${pair[1]}`;
    } else if (f.field >= RULE_FIELD.ARG0 && f.field <= RULE_FIELD.ARG3) {
      out += ` -F ${name}${op}0x${(f.value >>> 0).toString(16).toUpperCase()}`;
    } else if (f.field === RULE_FIELD.EXIT && signed < 0 && ERRNO_NAMES.has(-signed)) {
      out += ` -F ${name}${op}-${ERRNO_NAMES.get(-signed)}`;
    } else if (f.field === RULE_FIELD.FSTYPE && FSTYPE_NAMES.has(f.value)) {
      out += ` -F ${name}${op}${FSTYPE_NAMES.get(f.value)}`;
    } else {
      out += ` -F ${name}${op}${signed}`;
    }
  }
  return out;
}
