// The auditctl rule language: one line (as in a rules file, or auditctl's own
// arguments) → a command. Semantics follow auditctl and libaudit: the same
// lists, fields, operators, number bases and checks, so a line means here what
// it means to auditctl. Errors name the line, the column and what was expected.
import { idOf } from '../identity/files.js';
import fs from 'node:fs';
import { ACTION, FILTER, OPERATOR, PERM, RULE_FIELD, RULE_LIMITS } from '../constants/index.js';
import { recordTypeNumber } from '../constants/index.js';
import { AuditError } from '../errors.js';
import type { AuditRule, RuleField } from './rule.js';
import {
  ACTIONS,
  COMPARISONS,
  ERRNO_NUMBERS,
  FIELD_IDS,
  FILETYPES,
  FSTYPES,
  LISTS,
  OPERATORS,
  PERM_SYSCALLS,
  hostMachine,
  isGidField,
  isStringField,
  isUidField,
  machineByArch,
  machineByName,
  syscallNumber,
  type Machine,
} from './tables.js';

export type RuleCommand =
  | { kind: 'add'; rule: AuditRule; warnings: string[] }
  | { kind: 'delete'; rule: AuditRule; warnings: string[] }
  | { kind: 'deleteAll'; key?: string }
  | { kind: 'set'; setting: 'enabled' | 'failure' | 'backlogLimit' | 'rateLimit' | 'backlogWaitTime'; value: number }
  | { kind: 'loginuidImmutable' }
  | { kind: 'resetLost' }
  /** -i: ignore errors of later rules (a rules-file directive). */
  | { kind: 'ignoreErrors' }
  /** -c: continue after an error (a rules-file directive). */
  | { kind: 'continueOnError' };

export interface ParseOptions {
  /** The machine `b64`/`b32` and rules without an arch refer to. Default: this host. */
  machine?: string;
  /** Names for error messages. */
  file?: string;
  line?: number;
  /** Is this path an existing directory? Decides `-w` between dir and path. Default: stat it. */
  isDirectory?: (path: string) => boolean;
  /**
   * Turn `-F perm=` on a rule with an arch and no -S into the syscalls that can
   * have that effect, as auditctl does since audit 3.1. False gives auditctl
   * 3.0's rule (every syscall). Default true.
   */
  expandPerm?: boolean;
  /** User and group names → ids. Default: the identity files (lib/identity: /etc/passwd and /etc/group unless useIdentityFiles says otherwise). */
  userId?: (name: string) => number | undefined;
  groupId?: (name: string) => number | undefined;
}

export class RuleSyntaxError extends AuditError {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly column: number;

  constructor(message: string, column: number, options: ParseOptions) {
    const where = `${options.file ?? 'rule'}${options.line !== undefined ? `:${options.line}` : ''}:${column}`;
    super(`${where}: ${message}`, 'ERR_AUDIT_RULE_SYNTAX');
    this.name = 'RuleSyntaxError';
    this.file = options.file;
    this.line = options.line;
    this.column = column;
  }
}

interface Token {
  text: string;
  column: number;
}

/**
 * Split a line into words: whitespace separates; a backslash escapes a space
 * or a backslash (auditctl's rules-file form), and a tab or a quote (so any
 * value formatRule writes parseable reads back); quotes group as in a shell
 * (the form of auditctl's command-line arguments).
 */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= line.length) break;
    const column = i + 1;
    // Pieces joined once: a rule line may be megabytes of escapes, and a
    // string grown one character at a time costs more the longer it gets.
    const parts: string[] = [];
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
      const c = line[i];
      // A backslash escapes what would split or quote: a space, a tab, itself, a quote.
      if (c === '\\' && (line[i + 1] === ' ' || line[i + 1] === '\t' || line[i + 1] === '\\' || line[i + 1] === '"' || line[i + 1] === "'")) {
        parts.push(line[i + 1]);
        i += 2;
      } else if (c === "'" || c === '"') {
        const close = line.indexOf(c, i + 1);
        if (close < 0) throw Object.assign(new Error(`unclosed ${c}`), { column: i + 1 });
        parts.push(line.slice(i + 1, close));
        i = close + 1;
      } else {
        let j = i + 1;
        while (j < line.length) {
          const d = line[j];
          if (d === ' ' || d === '\t' || d === '\\' || d === "'" || d === '"') break;
          j++;
        }
        parts.push(line.slice(i, j));
        i = j;
      }
    }
    out.push({ text: parts.length === 1 ? parts[0] : parts.join(''), column });
  }
  return out;
}

// --- users and groups ------------------------------------------------------

const defaultUserId = (name: string): number | undefined => idOf('passwd', name);
const defaultGroupId = (name: string): number | undefined => idOf('group', name);
const defaultIsDirectory = (path: string): boolean => {
  try {
    return fs.statSync(path).isDirectory();
  } catch {
    return false;
  }
};

// --- numbers, as libaudit reads them (strtol/strtoul with base 0) ----------

/** An integer written in C's base-0 form: 0x1F hex, 017 octal, 15 decimal, optionally negative. */
function parseCInteger(text: string): number | undefined {
  const m = /^(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const body = m[2];
  const n = body.startsWith('0x') || body.startsWith('0X') ? parseInt(body.slice(2), 16) : body.length > 1 && body[0] === '0' ? parseInt(body, 8) : Number(body);
  return m[1] === '-' ? -n : n;
}

/** Input quoted in an error message, cut to one readable line. */
function shown(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** `1,2,3`: decimal numbers separated by single commas. A loop, not a regular expression: the list may be megabytes long. */
function isNumberList(text: string): boolean {
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 44 && digits > 0) digits = 0;
    else return false;
  }
  return digits > 0;
}

/** A u32 rule value: negative numbers become two's complement, as the C code's casts do. */
function u32(n: number): number {
  return n >>> 0;
}

const SETTINGS: Record<string, { setting: 'enabled' | 'failure' | 'backlogLimit' | 'rateLimit' | 'backlogWaitTime'; allowed?: number[] }> = {
  e: { setting: 'enabled', allowed: [0, 1, 2] },
  f: { setting: 'failure', allowed: [0, 1, 2] },
  b: { setting: 'backlogLimit' },
  r: { setting: 'rateLimit' },
  backlog_wait_time: { setting: 'backlogWaitTime' },
};

const TAKES_VALUE = new Set(['a', 'A', 'd', 'S', 'F', 'C', 'k', 'w', 'W', 'p', 'b', 'f', 'r', 'e']);

/** Parse one line. Returns undefined for a blank or comment line. */
export function parseRuleLine(line: string, options: ParseOptions = {}): RuleCommand | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  let tokens: Token[];
  try {
    tokens = tokenize(line);
  } catch (e) {
    throw new RuleSyntaxError(`${(e as Error).message}: expected a closing quote`, (e as { column: number }).column, options);
  }
  return new LineParser(tokens, options).parse();
}

class LineParser {
  private readonly tokens: Token[];
  private readonly options: ParseOptions;
  private readonly host: Machine;
  private i = 0;
  // The rule being built.
  private op: 'add' | 'delete' | undefined;
  private list: number | undefined;
  private action: number = ACTION.ALWAYS;
  private prepend = false;
  private readonly mask = new Uint32Array(RULE_LIMITS.BITMASK_SIZE);
  private readonly fields: RuleField[] = [];
  private readonly keys: string[] = [];
  private keysColumn = 0;
  private machine: Machine | undefined;
  private syscallAdded = false;
  private watchPerm = -1;
  private permOrExeAdded = false;
  private readonly warnings: string[] = [];
  private other: RuleCommand | undefined;

  constructor(tokens: Token[], options: ParseOptions) {
    this.tokens = tokens;
    this.options = options;
    const host = options.machine === undefined ? hostMachine() : machineByName(options.machine);
    if (!host) throw new RuleSyntaxError(`unknown machine ${options.machine}`, 1, options);
    this.host = host;
  }

  private fail(message: string, column: number): never {
    throw new RuleSyntaxError(message, column, this.options);
  }

  parse(): RuleCommand {
    while (this.i < this.tokens.length) {
      const t = this.tokens[this.i++];
      if (t.text.startsWith('--')) this.longOption(t);
      else if (t.text.startsWith('-') && t.text.length >= 2) this.shortOption(t);
      else this.fail(`expected an option (-a, -w, -S, -F, -k, …), got "${shown(t.text)}"`, t.column);
    }
    if (this.other) {
      if (this.op !== undefined) this.fail('a control option cannot be combined with a rule', 1);
      return this.other;
    }
    if (this.op === undefined) this.fail('expected -a, -A, -d, -w or -W: this line holds no rule', 1);
    return this.finish();
  }

  private value(t: Token, letter: string): Token {
    if (t.text.length > 2) return { text: t.text.slice(2), column: t.column + 2 };
    const v = this.tokens[this.i++];
    if (!v) this.fail(`-${letter} needs a value`, t.column);
    return v;
  }

  private setOther(c: RuleCommand, t: Token): void {
    if (this.other) this.fail('one control option per line', t.column);
    this.other = c;
  }

  private longOption(t: Token): void {
    const [name, inline] = t.text.slice(2).split('=', 2);
    switch (name) {
      case 'backlog_wait_time': {
        const v = inline !== undefined ? { text: inline, column: t.column + name.length + 3 } : this.tokens[this.i++];
        if (!v) this.fail('--backlog_wait_time needs a number of jiffies', t.column);
        this.setting('backlog_wait_time', v, t);
        return;
      }
      case 'loginuid-immutable':
        this.setOther({ kind: 'loginuidImmutable' }, t);
        return;
      case 'reset-lost':
        this.setOther({ kind: 'resetLost' }, t);
        return;
      default:
        this.fail(`unknown option --${name}; expected --backlog_wait_time, --loginuid-immutable or --reset-lost`, t.column);
    }
  }

  private setting(letter: string, v: Token, t: Token): void {
    const spec = SETTINGS[letter];
    const n = /^\d/.test(v.text) ? parseCInteger(v.text) : undefined;
    if (n === undefined || n < 0 || n > 0xffffffff) this.fail(`-${letter} needs a number, got "${shown(v.text)}"`, v.column);
    if (spec.allowed && !spec.allowed.includes(n)) this.fail(`-${letter} must be ${spec.allowed.join(', ')}; got ${n}`, v.column);
    this.setOther({ kind: 'set', setting: spec.setting, value: n }, t);
  }

  private shortOption(t: Token): void {
    const letter = t.text[1];
    const v = TAKES_VALUE.has(letter) ? this.value(t, letter) : undefined;
    switch (letter) {
      case 'a':
      case 'A':
      case 'd':
        return this.listAction(letter, v!);
      case 'S':
        return this.syscalls(v!);
      case 'F':
        return this.field(v!);
      case 'C':
        return this.compare(v!);
      case 'k':
        if (!(this.syscallAdded || this.permOrExeAdded || this.list === FILTER.FS) || this.op === undefined) {
          this.fail('-k needs a watch (-w) or a rule (-a with -S or -F) before it', t.column);
        }
        return this.key(v!);
      case 'w':
      case 'W':
        return this.watchPath(letter, v!);
      case 'p':
        return this.perms(v!, t);
      case 'b':
      case 'f':
      case 'r':
      case 'e':
        return this.setting(letter, v!, t);
      case 'D': {
        // -D [-k key]
        const next = this.tokens[this.i];
        if (next && next.text === '-k') {
          const k = this.tokens[this.i + 1];
          if (!k) this.fail('-D -k needs a key', next.column);
          this.i += 2;
          this.setOther({ kind: 'deleteAll', key: k.text }, t);
        } else {
          this.setOther({ kind: 'deleteAll' }, t);
        }
        return;
      }
      case 'i':
        return this.setOther({ kind: 'ignoreErrors' }, t);
      case 'c':
        return this.setOther({ kind: 'continueOnError' }, t);
      case 'l':
      case 's':
      case 'v':
      case 'm':
      case 't':
      case 'q':
      case 'R':
        return this.fail(`-${letter} is a command, not a rule: use the client (listRules, getStatus, sendUserMessage, loadRules) instead`, t.column);
      default:
        return this.fail(`unknown option -${letter}`, t.column);
    }
  }

  private listAction(letter: string, v: Token): void {
    if (this.op !== undefined) this.fail('one -a, -A, -d, -w or -W per rule', v.column);
    const words = v.text.split(',');
    if (words.length !== 2) this.fail(`expected LIST,ACTION such as always,exit; got "${shown(v.text)}"`, v.column);
    let list: number | undefined;
    let action: number | undefined;
    for (const w of words) {
      if (LISTS.has(w)) list = LISTS.get(w);
      else if (ACTIONS.has(w)) action = ACTIONS.get(w);
      else if (w === 'possible') this.fail('the action "possible" is deprecated and refused; use always or never', v.column);
      else if (w === 'entry') this.fail('the entry list is gone from the kernel; use exit', v.column);
    }
    if (list === undefined || action === undefined) {
      this.fail(`expected a list (${[...LISTS.keys()].join(', ')}) and an action (always, never); got "${shown(v.text)}"`, v.column);
    }
    if (list === FILTER.TASK && this.syscallAdded) this.fail('syscalls cannot be audited on the task list', v.column);
    this.op = letter === 'd' ? 'delete' : 'add';
    this.list = list;
    this.action = action;
    this.prepend = letter === 'A';
  }

  private syscalls(v: Token): void {
    if (this.list === undefined) this.fail('-S needs -a LIST,ACTION before it', v.column);
    if (this.list === FILTER.TASK || this.list === FILTER.USER || this.list === FILTER.FS || this.list === FILTER.EXCLUDE) {
      this.fail(`syscalls cannot be audited on the ${[...LISTS].find(([, n]) => n === this.list)![0]} list; use exit`, v.column);
    }
    if (this.list === FILTER.URING_EXIT && !isNumberList(v.text)) {
      this.fail('on the io_uring list, -S takes io_uring operation numbers; their names are not supported yet', v.column);
    }
    const machine = this.machine ?? this.host;
    if (!this.machine && !this.syscallAdded && this.list !== FILTER.URING_EXIT) {
      this.warnings.push(`no -F arch given: syscalls are read from the ${machine.name} table and the rule matches them on every arch (as auditctl warns, add -F arch=b64 and a -F arch=b32 twin)`);
    }
    let column = v.column;
    for (const name of v.text.split(',')) {
      if (name === 'all') this.mask.fill(0xffffffff);
      else {
        const nr = /^\d+$/.test(name) ? Number(name) : syscallNumber(machine, name);
        if (nr === undefined) {
          this.fail(machine.table ? `unknown syscall "${shown(name)}" for ${machine.name}` : `no syscall table for ${machine.name}: give syscall numbers`, column);
        }
        if (nr >= RULE_LIMITS.BITMASK_SIZE * 32) this.fail(`syscall number ${nr} is past the kernel's mask`, column);
        this.mask[nr >>> 5] |= 1 << (nr & 31);
      }
      column += name.length + 1;
    }
    this.syscallAdded = true;
  }

  private splitOperator(v: Token): [string, number, string, number] {
    for (const [symbol, op] of OPERATORS) {
      const at = v.text.indexOf(symbol);
      if (at >= 0) return [v.text.slice(0, at), op, v.text.slice(at + symbol.length), v.column + at + symbol.length];
    }
    this.fail(`expected FIELD OP VALUE with an operator (${OPERATORS.map(([s]) => s).join(' ')}); got "${shown(v.text)}"`, v.column);
  }

  private field(v: Token): void {
    if (this.list === undefined) this.fail('-F needs -a LIST,ACTION before it', v.column);
    const [name, op, value, valueColumn] = this.splitOperator(v);
    if (name === '') this.fail('expected a field name before the operator', v.column);
    if (value === '') this.fail(`expected a value after ${name}`, valueColumn);
    if (name === 'key') {
      if (op !== OPERATOR.EQUAL) this.fail('key takes only =', v.column);
      return this.key({ text: value, column: valueColumn });
    }
    const field = FIELD_IDS.get(name);
    if (field === undefined || field === RULE_FIELD.FIELD_COMPARE) {
      this.fail(`unknown field "${shown(name)}"`, v.column);
    }
    const list = this.list;
    const exitOnly = (what = name) => {
      if (list !== FILTER.EXIT) this.fail(`${what} can only be used on the exit list`, v.column);
    };
    const opIn = (...ops: number[]) => {
      if (!ops.includes(op)) this.fail(`${name} takes only ${ops.map((o) => OPERATORS.find(([, x]) => x === o)![0]).join(' or ')}`, v.column);
    };
    if (list === FILTER.EXCLUDE) {
      const allowed: number[] = [RULE_FIELD.PID, RULE_FIELD.UID, RULE_FIELD.GID, RULE_FIELD.LOGINUID, RULE_FIELD.MSGTYPE, RULE_FIELD.SUBJ_USER, RULE_FIELD.SUBJ_ROLE, RULE_FIELD.SUBJ_TYPE, RULE_FIELD.SUBJ_SEN, RULE_FIELD.SUBJ_CLR, RULE_FIELD.EXE];
      if (!allowed.includes(field)) this.fail(`${name} cannot be used on the exclude list (pid, uid, gid, auid, msgtype, exe and subj_* can)`, v.column);
    }
    const bad = (expected: string): never => this.fail(`${name}: expected ${expected}, got "${shown(value)}"`, valueColumn);
    const number = (): number => {
      const n = parseCInteger(value) ?? bad('a number');
      // Rule values are 32-bit. libaudit truncates what does not fit
      // (uid=4294967296 becomes uid=0, root): refuse it instead.
      if (!Number.isSafeInteger(n) || n > 0xffffffff || n < -0x80000000) bad('a number that fits in 32 bits (-2147483648 to 4294967295)');
      return n;
    };
    let n = 0;
    let text: string | undefined;

    if (isUidField(field)) {
      if (/^-?\d/.test(value)) n = number();
      else if (value === 'unset') n = 0xffffffff;
      else n = (this.options.userId ?? defaultUserId)(value) ?? this.fail(`unknown user "${shown(value)}"`, valueColumn);
    } else if (isGidField(field)) {
      if (/^\d/.test(value)) n = number();
      else n = (this.options.groupId ?? defaultGroupId)(value) ?? this.fail(`unknown group "${shown(value)}"`, valueColumn);
    } else if (field === RULE_FIELD.EXIT) {
      exitOnly();
      if (/^-?\d/.test(value)) n = number();
      else {
        const errno = ERRNO_NUMBERS.get(value.replace(/^-/, ''));
        if (errno === undefined) return bad('a number or an errno name such as -EACCES');
        n = value.startsWith('-') ? -errno : errno;
      }
    } else if (field === RULE_FIELD.MSGTYPE) {
      if (list !== FILTER.EXCLUDE && list !== FILTER.USER) this.fail('msgtype can only be used on the exclude and user lists', v.column);
      n = /^\d/.test(value) ? number() : recordTypeNumber(value);
      if (n <= 0) bad('a record type name or number');
    } else if (isStringField(field)) {
      if (field === RULE_FIELD.WATCH || field === RULE_FIELD.DIR || (field >= RULE_FIELD.OBJ_USER && field <= RULE_FIELD.OBJ_LEV_HIGH)) exitOnly();
      if (field === RULE_FIELD.WATCH || field === RULE_FIELD.DIR) this.permOrExeAdded = true;
      if (field === RULE_FIELD.EXE) {
        opIn(OPERATOR.EQUAL, OPERATOR.NOT_EQUAL);
        this.permOrExeAdded = true;
      }
      if (Buffer.byteLength(value) > 4096) bad('at most 4096 bytes');
      text = value;
      n = Buffer.byteLength(value);
    } else if (field === RULE_FIELD.ARCH) {
      if (this.syscallAdded) this.fail('-F arch must come before -S: it decides which table the syscall names are read from', v.column);
      opIn(OPERATOR.EQUAL, OPERATOR.NOT_EQUAL);
      const m = this.archMachine(value) ?? bad('b64, b32, a machine name (x86_64, i386, aarch64, …) or an AUDIT_ARCH number');
      this.machine = m;
      n = m.arch;
    } else if (field === RULE_FIELD.PERM) {
      exitOnly();
      opIn(OPERATOR.EQUAL);
      n = this.permBits(value, valueColumn);
      this.permOrExeAdded = true;
      // With an arch and no -S, auditctl turns the perm into the syscalls that
      // can have that effect on this arch, rather than every syscall.
      if (this.machine && !this.syscallAdded && this.options.expandPerm !== false) this.permSyscalls(this.machine, n);
    } else if (field === RULE_FIELD.FILETYPE) {
      exitOnly();
      n = FILETYPES.get(value) ?? (/^\d/.test(value) ? number() : bad(`a file type (${[...FILETYPES.keys()].join(', ')})`));
    } else if (field === RULE_FIELD.FSTYPE) {
      n = FSTYPES.get(value) ?? (/^\d/.test(value) ? number() : bad(`a filesystem type (${[...FSTYPES.keys()].join(', ')}) or its magic number`));
    } else if (field >= RULE_FIELD.ARG0 && field <= RULE_FIELD.ARG3) {
      n = /^-?\d/.test(value) ? number() : bad('a number (0x hex and 0 octal as in C)');
    } else if (field === RULE_FIELD.SESSIONID) {
      if (list !== FILTER.EXCLUDE && list !== FILTER.USER && list !== FILTER.EXIT) this.fail('sessionid can only be used on the exit, user and exclude lists', v.column);
      n = value === 'unset' ? 0xffffffff : /^-?\d/.test(value) ? number() : bad('a number or unset');
    } else {
      if ((field >= RULE_FIELD.DEVMAJOR && field <= RULE_FIELD.INODE) || field === RULE_FIELD.SUCCESS) exitOnly();
      if (field === RULE_FIELD.PPID) exitOnly();
      if (field === RULE_FIELD.INODE) opIn(OPERATOR.EQUAL, OPERATOR.NOT_EQUAL);
      n = /^\d/.test(value) ? number() : bad('a number');
    }
    this.addField({ field, op, value: u32(n), ...(text !== undefined && { text }) }, v.column);
  }

  private addField(f: RuleField, column: number): void {
    // One slot stays free for the key, which auditctl adds last.
    if (this.fields.length >= RULE_LIMITS.MAX_FIELDS - 1) this.fail(`a rule holds at most ${RULE_LIMITS.MAX_FIELDS - 1} fields and a key`, column);
    this.fields.push(f);
  }

  private archMachine(value: string): Machine | undefined {
    if (value === 'b64') return this.host.bits === 64 ? this.host : undefined;
    if (value === 'b32') return this.host.bits === 32 ? this.host : this.host.compat ? machineByName(this.host.compat) : undefined;
    if (/^\d/.test(value)) {
      const n = parseCInteger(value);
      return n === undefined ? undefined : machineByArch(n >>> 0);
    }
    return machineByName(value);
  }

  private permBits(value: string, column: number): number {
    if (value.length > 4) this.fail(`permissions are up to 4 of r, w, x, a; got "${shown(value)}"`, column);
    let bits = 0;
    for (const c of value.toLowerCase()) {
      const bit = c === 'r' ? PERM.READ : c === 'w' ? PERM.WRITE : c === 'x' ? PERM.EXEC : c === 'a' ? PERM.ATTR : 0;
      if (bit === 0) this.fail(`permissions are r, w, x and a; got "${c}"`, column);
      bits |= bit;
    }
    return bits;
  }

  private permSyscalls(machine: Machine, bits: number): void {
    for (const [bit, names] of PERM_SYSCALLS) {
      if ((bits & bit) === 0) continue;
      for (const name of names) {
        const nr = syscallNumber(machine, name);
        if (nr !== undefined) this.mask[nr >>> 5] |= 1 << (nr & 31);
      }
    }
    this.syscallAdded = true;
  }

  private compare(v: Token): void {
    if (this.list === undefined) this.fail('-C needs -a LIST,ACTION before it', v.column);
    if (this.list !== FILTER.EXIT) this.fail('-C can only be used on the exit list', v.column);
    const neq = v.text.indexOf('!=');
    const at = neq >= 0 ? neq : v.text.indexOf('=');
    if (at < 0) this.fail(`expected FIELD=FIELD or FIELD!=FIELD; got "${shown(v.text)}"`, v.column);
    const op = neq >= 0 ? OPERATOR.NOT_EQUAL : OPERATOR.EQUAL;
    const left = v.text.slice(0, at);
    const right = v.text.slice(at + (neq >= 0 ? 2 : 1));
    const value = COMPARISONS.get(`${left === 'loginuid' ? 'auid' : left},${right === 'loginuid' ? 'auid' : right}`);
    if (value === undefined) this.fail(`the kernel cannot compare ${left} with ${right}`, v.column);
    this.addField({ field: RULE_FIELD.FIELD_COMPARE, op, value }, v.column);
  }

  private key(v: Token): void {
    if (v.text.includes('\x01')) this.fail('a key cannot contain the byte 0x01 (it separates keys)', v.column);
    if (this.keys.length === 0) this.keysColumn = v.column;
    this.keys.push(v.text);
    if (Buffer.byteLength(this.keys.join('\x01')) > RULE_LIMITS.MAX_KEY_LEN) {
      this.fail(`keys are at most ${RULE_LIMITS.MAX_KEY_LEN} bytes in all`, v.column);
    }
  }

  private watchPath(letter: string, v: Token): void {
    if (this.op !== undefined) this.fail('-w and -W cannot be combined with -a, -A or -d', v.column);
    if (!v.text.startsWith('/')) this.fail(`a watched path must start with /; got "${shown(v.text)}"`, v.column);
    let end = v.text.length;
    while (end > 1 && v.text.charCodeAt(end - 1) === 47) end--;
    const path = v.text.slice(0, end);
    if (Buffer.byteLength(path) > 4096) this.fail(`a watched path is at most 4096 bytes (PATH_MAX); got ${Buffer.byteLength(path)}`, v.column);
    const dir = (this.options.isDirectory ?? defaultIsDirectory)(v.text);
    this.op = letter === 'W' ? 'delete' : 'add';
    this.list = FILTER.EXIT;
    this.action = ACTION.ALWAYS;
    this.syscallAdded = true;
    this.mask.fill(0xffffffff);
    this.addField({ field: dir ? RULE_FIELD.DIR : RULE_FIELD.WATCH, op: OPERATOR.EQUAL, value: Buffer.byteLength(path), text: path }, v.column);
    this.watchPerm = this.fields.length;
    this.addField({ field: RULE_FIELD.PERM, op: OPERATOR.EQUAL, value: PERM.READ | PERM.WRITE | PERM.EXEC | PERM.ATTR }, v.column);
  }

  private perms(v: Token, t: Token): void {
    if (this.op === undefined) this.fail('-p needs a watch (-w) before it', t.column);
    const bits = this.permBits(v.text, v.column);
    if (this.watchPerm >= 0) this.fields[this.watchPerm].value = bits;
    else this.addField({ field: RULE_FIELD.PERM, op: OPERATOR.EQUAL, value: bits }, v.column);
    this.permOrExeAdded = true;
  }

  private finish(): RuleCommand {
    const list = this.list!;
    // Without -S a rule covers every syscall (auditctl does this on every list but task).
    if (list !== FILTER.TASK && !this.syscallAdded) this.mask.fill(0xffffffff);
    const fields = [...this.fields];
    if (this.keys.length > 0) {
      const text = this.keys.join('\x01');
      fields.push({ field: RULE_FIELD.FILTERKEY, op: OPERATOR.EQUAL, value: Buffer.byteLength(text), text });
    }
    if (fields.length > RULE_LIMITS.MAX_FIELDS) this.fail(`a rule holds at most ${RULE_LIMITS.MAX_FIELDS} fields`, this.keysColumn || 1);
    const rule: AuditRule = { list, prepend: this.prepend, action: this.action, mask: this.mask, fields };
    return { kind: this.op!, rule, warnings: this.warnings };
  }
}

/** Parse a rules file's text. Blank and comment lines are skipped; each command keeps its line number. */
export function parseRules(text: string, options: Omit<ParseOptions, 'line'> = {}): Array<{ line: number; command: RuleCommand }> {
  const out: Array<{ line: number; command: RuleCommand }> = [];
  text.split('\n').forEach((raw, i) => {
    const command = parseRuleLine(raw.replace(/\r$/, ''), { ...options, line: i + 1 });
    if (command) out.push({ line: i + 1, command });
  });
  return out;
}
