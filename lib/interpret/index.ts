// What raw audit values mean, in the words libauparse uses: `syscall=59` →
// execve, `exit=-13` → EACCES(Permission denied), `auid=4294967295` → unset,
// `saddr=0200…` → { saddr_fam=inet laddr=10.0.0.5 lport=443 }. Nothing here
// runs for a field until someone asks for its meaning.
import { RECORD_TYPES } from '../constants/index.js';
import type { FieldsShape } from '../decode/record.js';
import { identityChanged, identityFile, nameOf, type IdKind } from '../identity/files.js';
import { FILTER } from '../constants/index.js';
import { LIST_NAMES, machineByArch, syscallName, ERRNO_NAMES } from '../rules/tables.js';
import {
  CAPABILITIES,
  CLONE_FLAGS,
  ERRNO_MESSAGES,
  MMAP_FLAGS,
  MMAP_PROT,
  FCNTL_COMMANDS,
  IOCTL_REQUESTS,
  IP_PROTOCOLS,
  MOUNT_FLAGS,
  OPEN_FLAGS,
  PERSONALITIES,
  PRCTL_OPTIONS,
  PTRACE_REQUESTS,
  SECCOMP_ACTIONS,
  SIGNALS,
  SOCKET_FAMILIES,
  SOCKET_TYPES,
} from './tables.generated.js';

/** The kinds of value auparse tells apart (auparse/typetab.h). */
export type FieldKind =
  | 'uid'
  | 'gid'
  | 'syscall'
  | 'arch'
  | 'exit'
  | 'escaped'
  | 'perm'
  | 'mode'
  | 'sockaddr'
  | 'success'
  | 'a0'
  | 'a1'
  | 'a2'
  | 'a3'
  | 'signal'
  | 'list'
  | 'tty'
  | 'session'
  | 'capability'
  | 'capBitmap'
  | 'nfproto'
  | 'seccomp'
  | 'proctitle'
  | 'promisc'
  | 'mmapFlags'
  | 'openFlags'
  | 'protocol'
  | 'personality'
  | 'fanotify'
  | 'resolve'
  | 'modeShort'
  | 'plain';

// A Map, not an object: a field named `constructor` must not find Object's.
const BY_NAME = new Map<string, FieldKind>();
const assign = (kind: FieldKind, names: string) => names.split(' ').forEach((n) => BY_NAME.set(n, kind));
assign('uid', 'auid uid euid suid fsuid ouid oauid old-auid iuid inode_uid sauid obj_uid');
assign('gid', 'obj_gid gid egid sgid fsgid ogid igid inode_gid new_gid');
assign('syscall', 'syscall');
assign('arch', 'arch');
assign('exit', 'exit');
assign('perm', 'perm perm_mask');
assign('mode', 'mode');
assign('sockaddr', 'saddr');
assign('success', 'res result success');
assign('a0', 'a0');
assign('a1', 'a1');
assign('a2', 'a2');
assign('a3', 'a3');
assign('signal', 'sig sigev_signo');
assign('list', 'list');
assign('session', 'ses');
assign('capability', 'capability');
assign('capBitmap', 'cap_pi cap_pe cap_pp cap_pa cap_fi cap_fp fp fi old_pp old_pi old_pe old_pa new_pp new_pi new_pe pp pi pe pa');
assign('nfproto', 'family');
assign('seccomp', 'code');
assign('proctitle', 'proctitle');
assign('promisc', 'prom old_prom');
assign('openFlags', 'oflag');
assign('resolve', 'resolve');
assign('protocol', 'proto');
assign('personality', 'per');
assign('fanotify', 'resp');

const TTY_TYPES = new Set([RECORD_TYPES.TTY, RECORD_TYPES.USER_TTY]);
const EXECVE = RECORD_TYPES.EXECVE;

/** How a field of a record of this type is read, as auparse classifies it. */
// Runs once per field of every interpreted record: character tests, no regex.
export function fieldKind(recordType: number, name: string): FieldKind {
  // EXECVE's a0, a1, … are arguments (a0_len, a1[0] too), not syscall arguments.
  if (recordType === EXECVE && name.charCodeAt(0) === 0x61 && name.charCodeAt(1) >= 0x30 && name.charCodeAt(1) <= 0x39) return 'escaped';
  const kind = BY_NAME.get(name);
  // mq_open's mode has no file type: auparse writes its octal back.
  if (kind === 'mode' && recordType === RECORD_TYPES.MQ_OPEN) return 'modeShort';
  if (kind !== undefined) return kind;
  if (name === 'data') return TTY_TYPES.has(recordType) ? 'tty' : 'plain';
  if (name === 'flags') return recordType === RECORD_TYPES.MMAP ? 'mmapFlags' : 'plain';
  if (name === 'id') return recordType === RECORD_TYPES.ADD_GROUP || recordType === RECORD_TYPES.DEL_GROUP || recordType === RECORD_TYPES.GRP_MGMT ? 'gid' : 'uid';
  return 'plain';
}

// --- users and groups ----------------------------------------------------------

/** Distinct ids seen are few; the cap only guards against a flood of made-up ones. */
const ID_ANSWERS_MAX = 4096;

/** Answers by the raw field text, so a repeated uid costs one map lookup; per file in use, dropped when it changes. */
const idAnswers = { passwd: { file: '', answers: new Map<string, string>() }, group: { file: '', answers: new Map<string, string>() } };

/**
 * A user or group name (lib/identity); an already interpreted value (a name,
 * `?`) is kept. Every record carries a dozen ids, so answers are memoised.
 */
function idName(kind: IdKind, raw: string): string {
  const memo = idAnswers[kind];
  const file = identityFile(kind);
  if (memo.file !== file || identityChanged(kind)) {
    memo.file = file;
    memo.answers.clear();
  }
  let answer = memo.answers.get(raw);
  if (answer !== undefined) return answer;
  if (!/^\d+$/.test(raw)) answer = raw;
  else if (raw === '4294967295') answer = 'unset';
  else answer = nameOf(kind, Number(raw)) ?? `unknown(${raw})`;
  if (raw.length > 32) return answer;
  if (memo.answers.size >= ID_ANSWERS_MAX) memo.answers.clear();
  memo.answers.set(raw, answer);
  return answer;
}

// --- tables -------------------------------------------------------------------

const toMap = (t: ReadonlyArray<readonly [number, string]>) => new Map(t);
const SIGNAL_NAMES = toMap(SIGNALS);
const CAP_NAMES = toMap(CAPABILITIES);
const FAMILY_NAMES = toMap(SOCKET_FAMILIES);
const SOCKET_TYPE_NAMES = toMap(SOCKET_TYPES);
const ERRNO_TEXT = toMap(ERRNO_MESSAGES);
const PTRACE_NAMES = toMap(PTRACE_REQUESTS);
const PRCTL_NAMES = toMap(PRCTL_OPTIONS);
const PROTOCOL_NAMES = toMap(IP_PROTOCOLS);
const FCNTL_NAMES = toMap(FCNTL_COMMANDS);
const PERSONALITY_NAMES = toMap(PERSONALITIES);
const IOCTL_NAMES = toMap(IOCTL_REQUESTS);

function signalName(n: number): string {
  return n === 0 ? 'SIG0' : (SIGNAL_NAMES.get(n) ?? `unknown-signal(${n})`);
}

function personalityName(n: number): string {
  return PERSONALITY_NAMES.get(n & 0xff) ?? `0x${n.toString(16)}`;
}
const SECCOMP_NAMES = new Map<number, string>(
  SECCOMP_ACTIONS.map(([v, n]) => [v, n.slice('SECCOMP_RET_'.length).toLowerCase().replace('_thread', '').replace('_', '-')]),
);

/** Flags as NAME|NAME, in table order; bits no name covers are appended in hex. */
function flagNames(value: number, table: ReadonlyArray<readonly [number, string]>, zero?: string): string {
  const names: string[] = [];
  let rest = value;
  for (const [bit, name] of table) {
    if (bit !== 0 && (value & bit) === bit && (rest & bit) !== 0) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names.length > 0 ? names.join('|') : (zero ?? '0x0');
}

/** O_RDONLY, O_WRONLY, O_RDWR by the access mode's number, and the flags that are bits. */
const OPEN_ACCESS = [0, 1, 2, 3].map((access) => OPEN_FLAGS.find(([v, n]) => v === access && /^O_(RDONLY|WRONLY|RDWR)$/.test(n))?.[1] ?? `0x${access.toString(16)}`);
const OPEN_FLAG_BITS = OPEN_FLAGS.filter(([v]) => v > 3);
/** openFlags' answers: a few values recur in every open; bounded against made-up ones. */
const openFlagsAnswers = new Map<number, string>();

function openFlags(value: number): string {
  let answer = openFlagsAnswers.get(value);
  if (answer === undefined) {
    // The access mode is a number, not a bit: O_RDONLY is 0.
    const mode = OPEN_ACCESS[value & 3];
    const rest = flagNames(value & ~3, OPEN_FLAG_BITS, '');
    answer = rest ? `${mode}|${rest}` : mode;
    if (openFlagsAnswers.size < 4096) openFlagsAnswers.set(value, answer);
  }
  return answer;
}

function hexNumber(raw: string): number {
  return parseInt(raw, 16);
}

// --- the interpreters ---------------------------------------------------------

function archName(raw: string): string {
  const m = /^[0-9a-fA-F]+$/.test(raw) ? machineByArch(hexNumber(raw) >>> 0) : undefined;
  return m ? m.name : `unknown-elf-type(${raw})`;
}

// Every SYSCALL record names its syscall, from a few dozen (arch, number)
// pairs: answers are memoised by the raw texts rather than re-derived.
const syscallAnswers = new Map<string, Map<string, string>>();
const SYSCALL_ANSWERS_MAX = 4096;

function syscallText(raw: string, arch: string | undefined): string {
  const archKey = arch ?? '';
  let answers = syscallAnswers.get(archKey);
  if (answers === undefined) {
    if (syscallAnswers.size >= 64) syscallAnswers.clear();
    syscallAnswers.set(archKey, (answers = new Map()));
  }
  let answer = answers.get(raw);
  if (answer === undefined) {
    if (answers.size >= SYSCALL_ANSWERS_MAX) answers.clear();
    answers.set(raw, (answer = nameSyscall(raw, arch)));
  }
  return answer;
}

function nameSyscall(raw: string, arch: string | undefined): string {
  if (!/^\d+$/.test(raw)) return raw;
  const nr = Number(raw);
  const m = arch !== undefined && /^[0-9a-fA-F]+$/.test(arch) ? machineByArch(hexNumber(arch) >>> 0) : undefined;
  const name = m && Number.isInteger(nr) ? syscallName(m, nr) : undefined;
  return name ?? `unknown-syscall(${raw})`;
}

function exitText(raw: string): string {
  const n = Number(raw);
  if (!Number.isInteger(n) || n >= 0) return raw;
  const name = ERRNO_NAMES.get(-n);
  return name ? `${name}(${ERRNO_TEXT.get(-n) ?? 'Unknown error'})` : raw;
}

function successText(raw: string): string {
  if (raw === '1' || raw === 'yes') return 'yes';
  if (raw === '0' || raw === 'no') return 'no';
  return raw;
}

function permText(raw: string): string {
  const n = Number(raw);
  if (!Number.isInteger(n)) return raw;
  if (n === 0) return 'none';
  const parts: string[] = [];
  if (n & 4) parts.push('read');
  if (n & 2) parts.push('write');
  if (n & 1) parts.push('exec');
  if (n & 8) parts.push('attr');
  return parts.join(',');
}

const FILE_TYPES: ReadonlyArray<readonly [number, string]> = [
  [0o140000, 'socket'],
  [0o120000, 'link'],
  [0o100000, 'file'],
  [0o060000, 'block'],
  [0o040000, 'dir'],
  [0o020000, 'character'],
  [0o010000, 'fifo'],
];

/** Permission bits as C writes them: 0755. */
function octalMode(n: number): string {
  return `0${(n & 0o7777).toString(8)}`;
}

function modeText(raw: string): string {
  if (!/^[0-7]+$/.test(raw)) return raw;
  const n = parseInt(raw, 8);
  const parts: string[] = [];
  const type = FILE_TYPES.find(([v]) => (n & 0o170000) === v);
  // A type auparse has no name for is written as its bits in octal ("000" for none).
  parts.push(type ? type[1] : ((n & 0o170000) >>> 12).toString(8).padStart(3, '0'));
  if (n & 0o4000) parts.push('suid');
  if (n & 0o2000) parts.push('sgid');
  if (n & 0o1000) parts.push('sticky');
  parts.push((n & 0o777).toString(8).padStart(3, '0'));
  return parts.join(',');
}

/** A socket address, decoded from the hex of a SOCKADDR record's saddr. */
export interface SocketAddress {
  family: string;
  /** IPv4 or IPv6 address. */
  addr?: string;
  port?: number;
  /** Unix socket path; abstract names start with @. */
  path?: string;
  /** Netlink: the peer's port id; packet: the interface index. */
  pid?: number;
  ifindex?: number;
  protocol?: number;
}

/** The address a saddr hex holds, or undefined if it is not one. Byte order is read from the family field. */
export function parseSockaddr(raw: string): SocketAddress | undefined {
  if (raw.length < 4 || !isHexPairs(raw)) return undefined;
  const b = Buffer.from(raw, 'hex');
  // sa_family is host order; a value above 255 read little-endian means a big-endian host.
  let family = b.readUInt16LE(0);
  const bigEndian = family > 0xff;
  if (bigEndian) family = b.readUInt16BE(0);
  const name = FAMILY_NAMES.get(family);
  if (!name || family === 0) return { family: `unknown-family(${family})` };
  switch (name) {
    case 'inet':
      return b.length < 8 ? { family: name } : { family: name, addr: [...b.subarray(4, 8)].join('.'), port: b.readUInt16BE(2) };
    case 'inet6':
      return b.length < 24 ? { family: name } : { family: name, addr: ipv6(b.subarray(8, 24)), port: b.readUInt16BE(2) };
    case 'local': {
      const path = b.subarray(2);
      if (path.length === 0) return { family: name, path: '(unnamed)' };
      if (path[0] === 0) {
        // Abstract: a leading NUL, the name runs to the end of the address.
        let end = path.length;
        while (end > 1 && path[end - 1] === 0) end--;
        return { family: name, path: `@${path.subarray(1, end).toString('latin1')}` };
      }
      const nul = path.indexOf(0);
      return { family: name, path: path.subarray(0, nul < 0 ? path.length : nul).toString('latin1') };
    }
    case 'netlink':
      return b.length < 12 ? { family: name } : { family: name, pid: bigEndian ? b.readUInt32BE(4) : b.readUInt32LE(4) };
    case 'packet':
      return b.length < 12 ? { family: name } : { family: name, protocol: b.readUInt16BE(2), ifindex: bigEndian ? b.readInt32BE(4) : b.readInt32LE(4) };
    default:
      return { family: name };
  }
}

/**
 * Even-length hex, either case. A loop: /^([0-9a-fA-F]{2})+$/ recurses per
 * pair in V8 and overflows the stack on a few megabytes of hostile saddr.
 */
function isHexPairs(text: string): boolean {
  if ((text.length & 1) !== 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) | 0x20;
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** A struct sockaddr in auparse's words: { saddr_fam=inet laddr=10.0.0.5 lport=443 }. */
export function sockaddrText(raw: string): string {
  const a = parseSockaddr(raw);
  if (!a) return raw;
  if (a.family.startsWith('unknown-family')) return a.family;
  switch (a.family) {
    case 'inet':
    case 'inet6':
      return `{ saddr_fam=${a.family} laddr=${a.addr ?? '?'} lport=${a.port ?? '?'} }`;
    case 'local':
      return `{ saddr_fam=local path=${a.path} }`;
    case 'netlink':
      return a.pid === undefined ? '{ saddr_fam=netlink }' : `{ saddr_fam=netlink nlnk-fam=16 nlnk-pid=${a.pid} }`;
    case 'packet':
      return a.ifindex === undefined ? '{ saddr_fam=packet }' : `{ saddr_fam=packet proto=${a.protocol} ifindex=${a.ifindex} }`;
    default:
      return `{ saddr_fam=${a.family} }`;
  }
}

function ipv6(a: Buffer): string {
  const words = [];
  for (let i = 0; i < 16; i += 2) words.push(a.readUInt16BE(i));
  // Longest run of zero words becomes "::", as inet_ntop writes it.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Remembers recent answers of a pure function of one string; bounded. */
function memo(f: (raw: string) => string): (raw: string) => string {
  const cache = new Map<string, string>();
  return (raw) => {
    // Real values are short; a hostile long one is answered, not kept.
    if (raw.length > 64) return f(raw);
    let v = cache.get(raw);
    if (v === undefined) {
      if (cache.size >= 1024) cache.clear();
      cache.set(raw, (v = f(raw)));
    }
    return v;
  };
}

// Capability sets repeat (a handful of values on a host), and each costs a
// BigInt and a walk over every capability.
const capBitmap = memo((raw: string): string => {
  // A capability set is 64 bits; anything longer is not one (and a BigInt of
  // megabytes, shifted once per capability, would be slow).
  if (raw.length > 16 || !/^[0-9a-fA-F]+$/.test(raw)) return raw;
  const v = BigInt(`0x${raw}`);
  const names: string[] = [];
  for (const [bit, name] of CAPABILITIES) if ((v >> BigInt(bit)) & 1n) names.push(name);
  return names.length > 0 ? names.join(',') : 'none';
});

function proctitleText(raw: string, quoted: boolean): string {
  if (quoted) return raw;
  // Trailing NULs trimmed by hand: /\0+$/ retries from every NUL of a long run not at the end.
  let end = raw.length;
  while (end > 0 && raw.charCodeAt(end - 1) === 0) end--;
  // split and join: a global replace slows down more than linearly with the
  // number of matches (a title of a million NULs), and replaceAll with a
  // string, though twice as fast on a title of a few arguments, took twice
  // as long as split and join on a line of NULs (the scaling benchmark).
  const title = raw.slice(0, end);
  return title.indexOf('\0') < 0 ? title : title.split('\0').join(' ');
}

/** Which arguments of which syscalls are user ids, group ids or signals (as auparse reads them). */
const UID_ARGS: Record<string, number> = { setuid: 1, setfsuid: 1, setreuid: 2, setresuid: 3 };
const GID_ARGS: Record<string, number> = { setgid: 1, setfsgid: 1, setregid: 2, setresgid: 3 };
const SIGNAL_ARG: Record<string, number> = { kill: 1, tkill: 1, tgkill: 2, rt_sigaction: 0, sigaction: 0, signal: 0, rt_sigqueueinfo: 1, pidfd_send_signal: 1 };
/** The argument holding a file mode, as auparse reads them (open's only with O_CREAT). */
const MODE_ARG: Record<string, number> = { open: 2, creat: 1, mkdir: 1, mkdirat: 2, chmod: 1, fchmod: 1, fchmodat: 2, mknod: 1, mknodat: 2 };
/** The argument holding the new owner's user id, as auparse reads it. */
const OWNER_ARG: Record<string, number> = { chown: 1, fchown: 1, lchown: 1 };

/** A syscall argument as auparse prints a plain one: 0x and the hex as logged. */
const hexArg = (raw: string) => `0x${raw}`;
const O_CREAT = OPEN_FLAGS.find(([, n]) => n === 'O_CREAT')![0];

/**
 * Directory-fd arguments, where -100 is AT_FDCWD, as libauparse 3.0.9 names
 * them (checked against it: test/oracle/synthetic.log). execveat and
 * symlinkat are not among them there.
 */
const DIRFD_ARGS = new Map<string, readonly number[]>([
  ...['faccessat', 'faccessat2', 'fchmodat', 'fchownat', 'futimesat', 'mkdirat', 'mknodat', 'name_to_handle_at', 'newfstatat', 'openat', 'openat2', 'unlinkat', 'utimensat'].map((n): [string, number[]] => [n, [0]]),
  ...['linkat', 'readlinkat', 'renameat', 'renameat2'].map((n): [string, number[]] => [n, [0, 2]]),
]);
/** access()-style mode arguments. */
const ACCESS_ARG: ReadonlyMap<string, number> = new Map([
  ['access', 1],
  ['faccessat', 2],
  ['faccessat2', 2],
]);
/** bpf(2) commands (linux/bpf.h). libauparse 3.0.9 names those up to BPF_BTF_GET_NEXT_ID; later ones are named here too. */
const BPF_COMMANDS = [
  'BPF_MAP_CREATE', 'BPF_MAP_LOOKUP_ELEM', 'BPF_MAP_UPDATE_ELEM', 'BPF_MAP_DELETE_ELEM', 'BPF_MAP_GET_NEXT_KEY', 'BPF_PROG_LOAD',
  'BPF_OBJ_PIN', 'BPF_OBJ_GET', 'BPF_PROG_ATTACH', 'BPF_PROG_DETACH', 'BPF_PROG_TEST_RUN', 'BPF_PROG_GET_NEXT_ID', 'BPF_MAP_GET_NEXT_ID',
  'BPF_PROG_GET_FD_BY_ID', 'BPF_MAP_GET_FD_BY_ID', 'BPF_OBJ_GET_INFO_BY_FD', 'BPF_PROG_QUERY', 'BPF_RAW_TRACEPOINT_OPEN', 'BPF_BTF_LOAD',
  'BPF_BTF_GET_FD_BY_ID', 'BPF_TASK_FD_QUERY', 'BPF_MAP_LOOKUP_AND_DELETE_ELEM', 'BPF_MAP_FREEZE', 'BPF_BTF_GET_NEXT_ID',
  'BPF_MAP_LOOKUP_BATCH', 'BPF_MAP_LOOKUP_AND_DELETE_BATCH', 'BPF_MAP_UPDATE_BATCH', 'BPF_MAP_DELETE_BATCH', 'BPF_LINK_CREATE',
  'BPF_LINK_UPDATE', 'BPF_LINK_GET_FD_BY_ID', 'BPF_LINK_GET_NEXT_ID', 'BPF_ENABLE_STATS', 'BPF_ITER_CREATE', 'BPF_LINK_DETACH',
  'BPF_PROG_BIND_MAP', 'BPF_TOKEN_CREATE',
];
/** socketcall(2)'s operations (linux/net.h SYS_SOCKET …), by number. */
const SOCKETCALL_OPS = [
  undefined, 'socket', 'bind', 'connect', 'listen', 'accept', 'getsockname', 'getpeername', 'socketpair', 'send', 'recv', 'sendto',
  'recvfrom', 'shutdown', 'setsockopt', 'getsockopt', 'sendmsg', 'recvmsg', 'accept4', 'recvmmsg', 'sendmmsg',
];

/** openat2's resolve flags (linux/openat2.h), as auparse names them. */
const RESOLVE_FLAGS: Array<[number, string]> = [
  [0x01, 'RESOLVE_NO_XDEV'],
  [0x02, 'RESOLVE_NO_MAGICLINKS'],
  [0x04, 'RESOLVE_NO_SYMLINKS'],
  [0x08, 'RESOLVE_BENEATH'],
  [0x10, 'RESOLVE_IN_ROOT'],
  [0x20, 'RESOLVE_CACHED'],
];

function resolveFlags(raw: string): string {
  const hex = raw.startsWith('0x') ? raw.slice(2) : raw;
  if (!isHexDigits(hex) || hex.length > 8) return raw;
  const v = parseInt(hex, 16);
  if (v === 0) return '0x0';
  return flagNames(v, RESOLVE_FLAGS);
}

/** access() modes as auparse writes them: F_OK, or X_OK|W_OK|R_OK in that order. */
function accessMode(v: number): string {
  if (v === 0) return 'F_OK';
  const names = [];
  if (v & 1) names.push('X_OK');
  if (v & 2) names.push('W_OK');
  if (v & 4) names.push('R_OK');
  return (v & ~7) !== 0 || names.length === 0 ? `0x${v.toString(16)}` : names.join('|');
}

/** socketcall's operation, from its a0 as logged (hex), or undefined. */
function socketcallOp(raw: string | undefined): string | undefined {
  if (raw === undefined || !isHexDigits(raw) || raw.length > 8) return undefined;
  return SOCKETCALL_OPS[parseInt(raw, 16)];
}

/** Syscalls with an argument auparse names (the tables above and the switch below). */
const NAMED_ARGS = [
  ...Object.keys(UID_ARGS), ...Object.keys(GID_ARGS), ...Object.keys(SIGNAL_ARG), ...Object.keys(MODE_ARG), ...Object.keys(OWNER_ARG),
  ...DIRFD_ARGS.keys(), ...ACCESS_ARG.keys(),
  'open', 'openat', 'socket', 'fcntl', 'personality', 'ioctl', 'clone', 'mmap', 'mprotect', 'ptrace', 'prctl', 'mount', 'bpf', 'socketcall',
];

/** What the tables above make of an argument, tried in this order. */
type ArgRole = 'uid' | 'gid' | 'signal' | 'mode' | 'owner' | 'dirfd' | 'access';

/**
 * For each syscall with a named argument, the roles of a0-a3 from the tables:
 * one lookup for an argument, not one per table.
 */
const ARG_ROLES = new Map<string, ArgRole[][]>(
  NAMED_ARGS.map((syscall): [string, ArgRole[][]] => [
    syscall,
    [0, 1, 2, 3].map((arg) => {
      const roles: ArgRole[] = [];
      if (arg < (UID_ARGS[syscall] ?? 0)) roles.push('uid');
      if (arg < (GID_ARGS[syscall] ?? 0)) roles.push('gid');
      if (SIGNAL_ARG[syscall] === arg) roles.push('signal');
      if (MODE_ARG[syscall] === arg) roles.push('mode');
      if (OWNER_ARG[syscall] === arg) roles.push('owner');
      if (DIRFD_ARGS.get(syscall)?.includes(arg)) roles.push('dirfd');
      if (ACCESS_ARG.get(syscall) === arg) roles.push('access');
      return roles;
    }),
  ]),
);

function isHexDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** The low 32 bits of a hex number (isHexDigits), unsigned: its last eight digits, read by hand (no slice, no parseInt). */
function low32(raw: string): number {
  let v = 0;
  for (let i = Math.max(0, raw.length - 8); i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    v = v * 16 + (c <= 57 ? c - 48 : (c | 0x20) - 87);
  }
  return v;
}

/** Syscall arguments whose meaning auparse knows, by syscall name. */
function argText(kind: 'a0' | 'a1' | 'a2' | 'a3', raw: string, syscall: string | undefined, flags?: number): string {
  // Most syscalls' arguments are plain: answered before any parsing (this runs for a0-a3 of every SYSCALL record).
  const roles = syscall === undefined ? undefined : ARG_ROLES.get(syscall);
  if (roles === undefined || !isHexDigits(raw)) return hexArg(raw);
  const arg = Number(kind[1]);
  // Arguments are logged as unsigned longs: 64-bit -1 is sixteen f's. Ids and
  // signals are ints, so read the low 32 bits.
  const low = low32(raw);
  const v = low;
  for (const role of roles[arg]) {
    switch (role) {
      case 'uid':
      case 'owner':
        return idName('passwd', String(low));
      case 'gid':
        return idName('group', String(low));
      case 'signal':
        return signalName(low);
      case 'mode':
        if (syscall !== 'open' || (flags ?? 0) & O_CREAT) return octalMode(low);
        break;
      case 'dirfd':
        // The *at syscalls take directory fds; -100 means the working directory.
        if (low === 0xffffff9c) return 'AT_FDCWD';
        break;
      case 'access':
        return accessMode(v);
    }
  }
  switch (syscall) {
    case 'bpf':
      if (arg === 0) return BPF_COMMANDS[v] ?? `unknown-bpf-cmd(${raw})`;
      break;
    case 'socketcall':
      if (arg === 0) return SOCKETCALL_OPS[v] ?? `unknown-socketcall(${raw})`;
      break;
    case 'open':
      if (arg === 1) return openFlags(v);
      break;
    case 'openat':
      if (arg === 2) return openFlags(v);
      break;
    case 'socket':
      if (arg === 0) return FAMILY_NAMES.get(v) ?? `unknown-family(${v})`;
      if (arg === 1) return SOCKET_TYPE_NAMES.get(v & 0xf) ?? hexArg(raw);
      if (arg === 2) return PROTOCOL_NAMES.get(v) ?? hexArg(raw);
      break;
    case 'fcntl':
      if (arg === 1) return FCNTL_NAMES.get(v) ?? hexArg(raw);
      break;
    case 'personality':
      if (arg === 0) return personalityName(v);
      break;
    case 'ioctl':
      if (arg === 1) return IOCTL_NAMES.get(v) ?? hexArg(raw);
      break;
    case 'clone':
      if (arg === 0) return flagNames(v & ~0xff, CLONE_FLAGS) + (v & 0xff ? `|${SIGNAL_NAMES.get(v & 0xff) ?? v & 0xff}` : '');
      break;
    case 'mmap':
      if (arg === 2) return flagNames(v, MMAP_PROT, 'PROT_NONE');
      if (arg === 3) return flagNames(v, MMAP_FLAGS);
      break;
    case 'mprotect':
      if (arg === 2) return flagNames(v, MMAP_PROT, 'PROT_NONE');
      break;
    case 'ptrace':
      if (arg === 0) return PTRACE_NAMES.get(v) ?? hexArg(raw);
      break;
    case 'prctl':
      if (arg === 0) return PRCTL_NAMES.get(v) ?? hexArg(raw);
      break;
    case 'mount':
      if (arg === 3) return flagNames(v, MOUNT_FLAGS);
      break;
  }
  return hexArg(raw);
}

/**
 * TTY data as auparse shows it: runs of printable text in quotes, other bytes
 * named: <ret>, <tab>, <backspace>, <up> (escape sequences), <^A> (controls).
 */
function ttyText(bytes: Buffer): string {
  const parts: string[] = [];
  let run = '';
  const flush = () => {
    if (run) parts.push(`"${run}"`);
    run = '';
  };
  const ARROWS: Record<string, string> = { A: 'up', B: 'down', C: 'right', D: 'left', H: 'home', F: 'end' };
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c >= 0x20 && c < 0x7f) {
      run += String.fromCharCode(c);
      continue;
    }
    flush();
    if (c === 0x1b && bytes[i + 1] === 0x5b && ARROWS[String.fromCharCode(bytes[i + 2])]) {
      parts.push(`<${ARROWS[String.fromCharCode(bytes[i + 2])]}>`);
      i += 2;
    } else if (c === 0x7f || c === 0x08) parts.push('<backspace>');
    else if (c === 0x0d) parts.push('<ret>');
    else if (c === 0x0a) parts.push('<nl>');
    else if (c === 0x09) parts.push('<tab>');
    else if (c === 0x1b) parts.push('<esc>');
    else if (c < 0x20) parts.push(`<^${String.fromCharCode(c + 64)}>`);
    else parts.push(`<${c.toString(16)}>`);
  }
  flush();
  return parts.join(',');
}

/** What `value` of field `name` means, in a record of `recordType`; `context` gives the record's arch and syscall. */
export function interpretValue(
  recordType: number,
  name: string,
  value: string,
  context: { arch?: string; syscall?: string; quoted?: boolean; openFlags?: number } = {},
): string {
  const syscall = context.syscall !== undefined ? syscallText(context.syscall, context.arch) : undefined;
  return meaning(fieldKind(recordType, name), value, context.arch, syscall, context.quoted ?? false, context.openFlags);
}

// Positional arguments: this runs once per field of every interpreted record.
// `syscallName` is the record's syscall already named (a0-a3 depend on it).
function meaning(kind: FieldKind, value: string, arch: string | undefined, syscallName: string | undefined, quoted: boolean, openFlagsArg?: number): string {
  switch (kind) {
    case 'plain':
    case 'escaped':
      return value;
    case 'uid':
      return idName('passwd', value);
    case 'gid':
      return idName('group', value);
    case 'syscall':
      return syscallText(value, arch);
    case 'arch':
      return archName(value);
    case 'exit':
      return exitText(value);
    case 'success':
      return successText(value);
    case 'perm':
      return permText(value);
    case 'mode':
      return modeText(value);
    case 'modeShort':
      return /^[0-7]+$/.test(value) ? octalMode(parseInt(value, 8)) : value;
    case 'sockaddr':
      return sockaddrText(value);
    case 'a0':
    case 'a1':
    case 'a2':
    case 'a3':
      return argText(kind, value, syscallName, openFlagsArg);
    case 'tty':
      return ttyText(quoted ? Buffer.from(value, 'latin1') : isHexPairs(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'latin1'));
    case 'signal':
      return /^\d+$/.test(value) ? signalName(Number(value)) : value;
    case 'promisc':
      return /^\d+$/.test(value) ? (Number(value) & 0x100 ? 'yes' : 'no') : value;
    case 'mmapFlags':
      return /^(0x)?[0-9a-fA-F]+$/.test(value) ? flagNames(parseInt(value.replace(/^0x/, ''), 16), MMAP_FLAGS) : value;
    case 'openFlags':
      return /^(0x)?[0-9a-fA-F]+$/.test(value) ? openFlags(parseInt(value.replace(/^0x/, ''), 16)) : value;
    case 'protocol':
      return /^\d+$/.test(value) ? (PROTOCOL_NAMES.get(Number(value)) ?? value) : value;
    case 'personality':
      return /^(0x)?[0-9a-fA-F]+$/.test(value) ? personalityName(parseInt(value.replace(/^0x/, ''), 16)) : value;
    case 'fanotify':
      return value === '1' ? 'allow' : value === '2' ? 'deny' : value;
    case 'resolve':
      return resolveFlags(value);
    case 'list':
      return /^\d+$/.test(value) ? (LIST_NAMES.get(Number(value)) ?? (Number(value) === FILTER.ENTRY ? 'entry' : `unknown-list(${value})`)) : value;
    case 'session':
      return value === '4294967295' ? 'unset' : value;
    case 'capability':
      return /^\d+$/.test(value) ? (CAP_NAMES.get(Number(value)) ?? `unknown-capability(${value})`) : value;
    case 'capBitmap':
      return capBitmap(value);
    case 'nfproto':
      return value === '2' ? 'ipv4' : value === '10' ? 'ipv6' : value === '7' ? 'bridge' : value === '3' ? 'arp' : value === '0' ? 'unspecified' : value;
    case 'seccomp': {
      const n = /^0x[0-9a-fA-F]+$/.test(value) ? parseInt(value, 16) : Number(value);
      return Number.isInteger(n) ? (SECCOMP_NAMES.get((n & 0xffff0000) >>> 0) ?? `unknown-seccomp-code(${value})`) : value;
    }
    case 'proctitle':
      return proctitleText(value, quoted);
  }
}

/** A record as interpretation needs it (an AuditRecord). */
export interface InterpretableRecord {
  type: number;
  fields: Record<string, string>;
  rawField(key: string): { key: string; value: string; quoted: boolean } | undefined;
  /** The logging host's own meanings (an ENRICHED log line), preferred where given. */
  enriched?: Record<string, string>;
  /** The names of `fields` in order and a maker of such objects, when known (AuditRecord.fieldsShape). */
  fieldsShape?(): FieldsShape | undefined;
}

/**
 * The kinds of a shape's fields in a record type, by position. Records of one
 * layout repeat by the thousand: naming each field's kind once per layout
 * spares a lookup per field, and with the shape's maker the result is an
 * object literal, not a copy filled in by name. Bounded by the decoder's
 * layouts (1024) and the types seen with each.
 */
const kindsByShape = new Map<FieldsShape, Map<number, FieldKind[]>>();

function kindsOf(shape: FieldsShape, type: number): FieldKind[] {
  let byType = kindsByShape.get(shape);
  if (byType === undefined) kindsByShape.set(shape, (byType = new Map()));
  let kinds = byType.get(type);
  if (kinds === undefined) byType.set(type, (kinds = shape.names.map((name) => fieldKind(type, name))));
  return kinds;
}

/**
 * Every field of a record with its meaning (the raw values stay in
 * record.fields). The result has the fields' keys in their order.
 */
export function interpretRecord(record: InterpretableRecord): Record<string, string> {
  const fields = record.fields;
  const type = record.type;
  const arch = fields.arch;
  // Named once per record: a0-a3 are read by it.
  const syscallName = fields.syscall !== undefined ? syscallText(fields.syscall, arch) : undefined;
  // socketcall multiplexes the socket calls on i386: auparse names the operation with it.
  const socketcall = syscallName === 'socketcall' ? socketcallOp(fields.a0) : undefined;
  // open's mode argument means something only with O_CREAT in its flags (a1).
  const openFlagsArg = syscallName === 'open' && fields.a1 !== undefined && /^[0-9a-fA-F]+$/.test(fields.a1) ? parseInt(fields.a1.slice(-8), 16) : undefined;
  const field = (kind: FieldKind, key: string, value: string): string => {
    if (kind === 'syscall') return socketcall !== undefined ? `socketcall(${socketcall})` : syscallName!;
    if (kind === 'proctitle' || kind === 'tty') {
      // These need how the value was written: quoted text, or hex bytes.
      const f = record.rawField(key);
      return meaning(kind, kind === 'tty' && f ? f.value : value, arch, syscallName, f?.quoted ?? false);
    }
    return meaning(kind, value, arch, syscallName, false, openFlagsArg);
  };
  let out: Record<string, string> | undefined;
  const shape = record.fieldsShape?.();
  if (shape !== undefined) {
    // The shape holds while nobody has added or removed a field since.
    const names = shape.names;
    const keys = Object.keys(fields);
    let same = keys.length === names.length;
    for (let k = 0; same && k < keys.length; k++) same = keys[k] === names[k];
    if (same) {
      const kinds = kindsOf(shape, type);
      const values = Object.values(fields);
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[k];
        if (kind !== 'plain' && kind !== 'escaped') values[k] = field(kind, names[k], values[k]);
      }
      out = shape.make(values);
    }
  }
  if (out === undefined) {
    // A copy of fields has their shape already: filling it in place avoids the
    // generic store of each new key (the decoder's main cost, see record.ts).
    out = { ...fields };
    for (const key in fields) {
      const kind = fieldKind(type, key);
      if (kind !== 'plain' && kind !== 'escaped') out[key] = field(kind, key, fields[key]);
    }
  }
  // An ENRICHED log line names its ids as the host that wrote it knew them;
  // this host's user database may not know them, or know them differently.
  const enriched = record.enriched;
  if (enriched !== undefined) {
    for (const key in out) {
      const theirs = enriched[key.toUpperCase()];
      if (theirs !== undefined) out[key] = theirs;
    }
  }
  return out;
}
