// The vocabulary of the auditctl rule language, derived from the generated
// kernel constants and syscall tables: field names, operators, lists, actions,
// machines. auditctl spells a field as its constant's name in lower case, with
// the few exceptions below.
import os from 'node:os';
import { ACTION, ARCH, COMPARE, ERRNO, FILTER, OPERATOR, RULE_FIELD } from '../constants/index.js';
import { SYSCALL_TABLES } from './syscalls.generated.js';

const RENAMED: Record<string, string> = {
  LOGINUID: 'auid',
  WATCH: 'path',
  FILTERKEY: 'key',
  ARG0: 'a0',
  ARG1: 'a1',
  ARG2: 'a2',
  ARG3: 'a3',
};

/** Field id → the name auditctl prints. */
export const FIELD_NAMES = new Map<number, string>(
  Object.entries(RULE_FIELD).map(([constant, id]) => [id, RENAMED[constant] ?? constant.toLowerCase()]),
);

/** Field name → id, with auditctl's alias `loginuid` for auid. */
export const FIELD_IDS = new Map<string, number>([...[...FIELD_NAMES].map(([id, name]) => [name, id] as [string, number]), ['loginuid', RULE_FIELD.LOGINUID]]);

/** Fields whose value is a string carried in the rule's buffer. */
export function isStringField(field: number): boolean {
  return (
    (field >= RULE_FIELD.SUBJ_USER && field <= RULE_FIELD.OBJ_LEV_HIGH && field !== RULE_FIELD.PPID) ||
    field === RULE_FIELD.WATCH ||
    field === RULE_FIELD.DIR ||
    field === RULE_FIELD.FILTERKEY ||
    field === RULE_FIELD.EXE
  );
}

export function isUidField(field: number): boolean {
  return ([RULE_FIELD.UID, RULE_FIELD.EUID, RULE_FIELD.SUID, RULE_FIELD.FSUID, RULE_FIELD.LOGINUID, RULE_FIELD.OBJ_UID] as number[]).includes(field);
}

export function isGidField(field: number): boolean {
  return ([RULE_FIELD.GID, RULE_FIELD.EGID, RULE_FIELD.SGID, RULE_FIELD.FSGID, RULE_FIELD.OBJ_GID] as number[]).includes(field);
}

/** Operators, two-character ones first: the order auditctl looks for them. */
export const OPERATORS: ReadonlyArray<readonly [string, number]> = [
  ['!=', OPERATOR.NOT_EQUAL],
  ['>=', OPERATOR.GREATER_THAN_OR_EQUAL],
  ['<=', OPERATOR.LESS_THAN_OR_EQUAL],
  ['&=', OPERATOR.BIT_TEST],
  ['=', OPERATOR.EQUAL],
  ['>', OPERATOR.GREATER_THAN],
  ['<', OPERATOR.LESS_THAN],
  ['&', OPERATOR.BIT_MASK],
];
export const OPERATOR_SYMBOLS = new Map<number, string>(OPERATORS.map(([s, v]) => [v, s]));

/** Rule lists (`-a LIST,ACTION`). `entry` is gone from the kernel. */
export const LISTS = new Map<string, number>([
  ['user', FILTER.USER],
  ['task', FILTER.TASK],
  ['exit', FILTER.EXIT],
  ['exclude', FILTER.EXCLUDE],
  ['filesystem', FILTER.FS],
  ['io_uring', FILTER.URING_EXIT],
]);
export const LIST_NAMES = new Map<number, string>([...LISTS].map(([n, v]) => [v, n]));

/** Actions. `possible` is deprecated and auditctl refuses it. */
export const ACTIONS = new Map<string, number>([
  ['never', ACTION.NEVER],
  ['always', ACTION.ALWAYS],
]);
export const ACTION_NAMES = new Map<number, string>([...ACTIONS].map(([n, v]) => [v, n]));

/** A machine a rule can name: its AUDIT_ARCH value and syscall table. */
export interface Machine {
  name: string;
  arch: number;
  /** Key of SYSCALL_TABLES, or undefined where no table exists (s390). */
  table: string | undefined;
  bits: 32 | 64;
  /** The 32-bit machine that `b32` means on this one. */
  compat?: string;
}

export const MACHINES = new Map<string, Machine>(
  (
    [
      ['i386', ARCH.I386, 'i386', 32],
      ['x86_64', ARCH.X86_64, 'x86_64', 64, 'i386'],
      ['ppc', ARCH.PPC, 'ppc64le', 32],
      ['ppc64', ARCH.PPC64, 'ppc64le', 64, 'ppc'],
      ['ppc64le', ARCH.PPC64LE, 'ppc64le', 64, 'ppc'],
      ['s390', ARCH.S390, undefined, 32],
      ['s390x', ARCH.S390X, 's390x', 64, 's390'],
      ['arm', ARCH.ARM, 'arm', 32],
      ['aarch64', ARCH.AARCH64, 'aarch64', 64, 'arm'],
      ['riscv64', ARCH.RISCV64, 'riscv64', 64],
    ] as const
  ).map(([name, arch, table, bits, compat]) => [name, { name, arch, table, bits, compat }]),
);

/**
 * (AUDIT_ARCH, syscall number) of execve and execveat on every machine with a
 * table: the native reader reads an exec's process afresh, since a runtime
 * moves its process into a container just before it.
 */
export function execSyscalls(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of MACHINES.values()) {
    const table = m.table !== undefined ? SYSCALL_TABLES[m.table] : undefined;
    for (const name of ['execve', 'execveat']) if (table?.[name] !== undefined) out.push([m.arch >>> 0, table[name]]);
  }
  return out;
}

/** uname -m spellings auditctl accepts for each machine. */
const MACHINE_ALIASES = new Map<string, string>([
  ['i486', 'i386'],
  ['i586', 'i386'],
  ['i686', 'i386'],
  ['armeb', 'arm'],
  ['armv5tejl', 'arm'],
  ['armv5tel', 'arm'],
  ['armv6l', 'arm'],
  ['armv7l', 'arm'],
  ['armv8l', 'aarch64'],
]);

export function machineByName(name: string): Machine | undefined {
  return MACHINES.get(MACHINE_ALIASES.get(name) ?? name);
}

export function machineByArch(arch: number): Machine | undefined {
  for (const m of MACHINES.values()) if (m.arch === arch) return m;
  return undefined;
}

/** This host's machine, as `uname -m` would name it. */
export function hostMachine(): Machine {
  const byNode: Record<string, string> = { x64: 'x86_64', ia32: 'i386', arm64: 'aarch64', arm: 'arm', ppc64: os.endianness() === 'LE' ? 'ppc64le' : 'ppc64', s390x: 's390x', riscv64: 'riscv64' };
  const m = machineByName(byNode[process.arch] ?? process.arch);
  if (!m) throw new Error(`audit rules: no syscall table for this machine (${process.arch})`);
  return m;
}

/** Syscall name → number, and the reverse, for a machine. */
export function syscallNumber(machine: Machine, name: string): number | undefined {
  // Own properties only: a rule's -S toString must not find Object.prototype's.
  const table = machine.table === undefined ? undefined : SYSCALL_TABLES[machine.table];
  return table !== undefined && Object.hasOwn(table, name) ? table[name] : undefined;
}

const reverseTables = new Map<string, Map<number, string>>();
export function syscallName(machine: Machine, nr: number): string | undefined {
  if (machine.table === undefined) return undefined;
  let rev = reverseTables.get(machine.table);
  if (!rev) {
    // The first name listed for a number is the one auditctl prints; later ones are aliases.
    rev = new Map();
    for (const [n, v] of Object.entries(SYSCALL_TABLES[machine.table])) if (!rev.has(v)) rev.set(v, n);
    reverseTables.set(machine.table, rev);
  }
  return rev.get(nr);
}

/** -C comparisons: "uid,obj_uid" (either order) → AUDIT_COMPARE_* value; and back. */
export const COMPARISONS = new Map<string, number>();
export const COMPARISON_FIELDS = new Map<number, readonly [string, string]>();
for (const [constant, value] of Object.entries(COMPARE)) {
  const [left, right] = constant.toLowerCase().split('_to_');
  COMPARISONS.set(`${left},${right}`, value);
  COMPARISONS.set(`${right},${left}`, value);
  COMPARISON_FIELDS.set(value, [left, right]);
}

/** Filesystem types auditctl names for `-F fstype=` (magic numbers from linux/magic.h). */
export const FSTYPES = new Map<string, number>([
  ['debugfs', 0x64626720],
  ['tracefs', 0x74726163],
]);

/** `-F filetype=` names (S_IF* from sys/stat.h). */
export const FILETYPES = new Map<string, number>([
  ['block', 0o060000],
  ['character', 0o020000],
  ['dir', 0o040000],
  ['fifo', 0o010000],
  ['file', 0o100000],
  ['link', 0o120000],
  ['socket', 0o140000],
]);

export const ERRNO_NUMBERS = new Map<string, number>(Object.entries(ERRNO));
export const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(ERRNO)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);

/**
 * Syscalls behind each -F perm bit, as current auditctl expands `-F perm=` on a
 * rule with an arch and no -S (each name taken where the arch has it). Source:
 * the kernel's include/asm-generic/audit_*.h classes, as audit-userspace lists
 * them in lib/permtab.h; its read class has since gained the stat family and
 * quotactl_fd (auditctl at audit-userspace ea855020, whose encodings the
 * shared corpus holds).
 */
export const PERM_SYSCALLS: ReadonlyArray<readonly [number, readonly string[]]> = [
  [1, ['execve', 'execveat']],
  [2, ['rename', 'mkdir', 'rmdir', 'creat', 'link', 'unlink', 'symlink', 'mknod', 'mkdirat', 'mknodat', 'unlinkat', 'renameat', 'linkat', 'symlinkat', 'renameat2', 'acct', 'swapon', 'quotactl', 'quotactl_fd', 'truncate', 'ftruncate', 'bind', 'fallocate', 'open', 'openat', 'openat2']],
  [4, ['stat', 'lstat', 'fstat', 'newfstatat', 'statx', 'quotactl_fd', 'readlink', 'quotactl', 'listxattr', 'listxattrat', 'llistxattr', 'flistxattr', 'getxattr', 'getxattrat', 'lgetxattr', 'fgetxattr', 'readlinkat', 'open', 'openat', 'openat2', 'file_getattr']],
  [8, ['chmod', 'fchmod', 'chown', 'lchown', 'fchown', 'setxattr', 'setxattrat', 'lsetxattr', 'fsetxattr', 'removexattr', 'removexattrat', 'lremovexattr', 'fremovexattr', 'fchownat', 'fchmodat', 'fchmodat2', 'file_setattr', 'link', 'linkat']],
];
