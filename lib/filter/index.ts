// Which events to keep, decided in the process that reads them: for what the
// kernel's rules cannot say (a container, a name) or should not be changed
// for (a tail that must not disturb the host's rules). Values of one criterion
// are alternatives; different criteria must all hold.
import type { AuditEvent } from '../assemble/event.js';
import { recordTypeNumber } from '../constants/index.js';

export interface EventFilter {
  /** Rule keys (`-k`); an event matches when any of its keys is one of these. */
  keys?: string[];
  /** Record types by name (`SYSCALL`, `USER_LOGIN`) or number; an event matches when it has a record of one. */
  types?: Array<string | number>;
  /** Syscall names as interpreted (`execve`), or numbers as logged. */
  syscalls?: Array<string | number>;
  /** The process id of the event (`pid=`). */
  pids?: number[];
  /** User ids or names; matched against uid, euid and auid, as `ausearch -ua` does. */
  uids?: Array<number | string>;
  /** Executables: a full path matches `exe=` exactly, a bare name matches its last part. */
  exes?: string[];
  /**
   * Containers: `any` (in some container), `host` (in none: an event whose
   * container is unknown is neither), or an id prefix, a container name, a
   * Kubernetes pod name or `namespace/pod`. Names match once the engine has
   * answered: the first events of a new container match by id only.
   */
  containers?: string[];
  /** Whether the syscall (or user-space operation) succeeded. */
  success?: boolean;
  /** Exclusions: an event with any of these keys is left out. */
  notKeys?: string[];
  /** Exclusions: executables as for `exes`; their events are left out. */
  notExes?: string[];
  /** A regular expression the executable (`exe=`) must match. */
  exeMatch?: string;
  /** Exclusions: a regular expression; events whose executable matches are left out. */
  notExeMatch?: string;
  /** A regular expression one of the event's paths (PATH names, CWD) must match. */
  pathMatch?: string;
  /** Exclusions: a regular expression; events whose every path matches are left out (an event with no path is kept). */
  notPathMatch?: string;
}

/**
 * The part of a filter the kernel can apply itself, as rules to prepend: an
 * excluded executable given by its full path becomes `-A never,exit -F
 * exe=PATH`, so its syscalls are never audited (cheaper than reading and
 * dropping them, and for every consumer of the host's audit stream). The
 * rest stays in the agent; `exclusionsIn` says which is where.
 */
export function kernelExclusions(filter: EventFilter): string[] {
  // A space or backslash in the path is escaped as auditctl's rules files escape them.
  return (filter.notExes ?? []).filter((e) => e.startsWith('/')).map((e) => `-A never,exit -F exe=${e.split('\\').join('\\\\').split(' ').join('\\ ')}`);
}

/** What each exclusion of a filter is done by, in words for `status`. */
export function exclusionsIn(filter: EventFilter): { kernel: string[]; agent: string[] } {
  const agent: string[] = [];
  for (const k of filter.notKeys ?? []) agent.push(`not key ${k}`);
  for (const e of filter.notExes ?? []) if (!e.startsWith('/')) agent.push(`not exe named ${e}`);
  if (filter.notExeMatch !== undefined) agent.push(`not exe matching ${filter.notExeMatch}`);
  if (filter.notPathMatch !== undefined) agent.push(`not paths all matching ${filter.notPathMatch}`);
  return { kernel: kernelExclusions(filter), agent };
}

/**
 * Values longer than this are not given to an operator's regular expression:
 * a hostile path of megabytes could make a backtracking pattern run for
 * minutes. Real paths and executables are at most PATH_MAX (4096).
 */
const MATCH_MAX = 4096;

function regex(criterion: string, source: string): RegExp {
  try {
    return new RegExp(source, 'u');
  } catch (e) {
    throw new FilterError(`${criterion}: not a regular expression: ${(e as Error).message}`);
  }
}

/** The executable of an event, or undefined. */
function exeOf(ev: AuditEvent): string | undefined {
  return ev.records.find((r) => r.fields.exe !== undefined)?.fields.exe;
}

/** The paths an event names: its PATH records' names and its working directory. */
function pathsOf(ev: AuditEvent): string[] {
  const out: string[] = [];
  for (const r of ev.records) {
    if (r.typeName === 'PATH' && r.fields.name !== undefined && r.fields.name !== '(null)') out.push(r.fields.name);
    else if (r.typeName === 'CWD' && r.fields.cwd !== undefined) out.push(r.fields.cwd);
  }
  return out;
}

/** Full paths equal, bare names equal the last part. */
function exeMatcher(exes: string[]): (exe: string) => boolean {
  const full = new Set(exes.filter((e) => e.includes('/')));
  const base = new Set(exes.filter((e) => !e.includes('/')));
  return (exe) => full.has(exe) || base.has(exe.slice(exe.lastIndexOf('/') + 1));
}

/** An invalid filter value, with the criterion it came from. */
export class FilterError extends Error {
  readonly code = 'ERR_AUDIT_FILTER';
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

const USER_IDS = ['uid', 'euid', 'auid'] as const;

/** A predicate for the filter; throws FilterError for a value no event could match. */
export function compileFilter(filter: EventFilter): (ev: AuditEvent) => boolean {
  const tests: Array<(ev: AuditEvent) => boolean> = [];
  if (filter.keys?.length) {
    const keys = new Set(filter.keys);
    tests.push((ev) => ev.keys.some((k) => keys.has(k)));
  }
  if (filter.types?.length) {
    const types = new Set(
      filter.types.map((t) => {
        const n = typeof t === 'number' ? t : /^\d+$/.test(t) ? Number(t) : recordTypeNumber(t.toUpperCase());
        if (n < 0) throw new FilterError(`unknown record type "${t}": use a name such as SYSCALL, EXECVE or USER_LOGIN, or a number`);
        return n;
      }),
    );
    tests.push((ev) => ev.records.some((r) => types.has(r.type)));
  }
  if (filter.syscalls?.length) {
    const names = new Set(filter.syscalls.map(String));
    tests.push((ev) => {
      const r = ev.records.find((x) => x.fields.syscall !== undefined);
      return r !== undefined && (names.has(r.fields.syscall) || names.has(r.interpreted.syscall));
    });
  }
  if (filter.pids?.length) {
    for (const p of filter.pids) if (!Number.isInteger(p) || p < 0) throw new FilterError(`pid "${p}" is not a process id: give a whole number`);
    const pids = new Set(filter.pids);
    tests.push((ev) => ev.pid !== undefined && pids.has(ev.pid));
  }
  if (filter.uids?.length) {
    const wanted = new Set(filter.uids.map(String));
    tests.push((ev) =>
      ev.records.some((r) => USER_IDS.some((f) => r.fields[f] !== undefined && (wanted.has(r.fields[f]) || wanted.has(r.interpreted[f])))),
    );
  }
  if (filter.exes?.length) {
    const matches = exeMatcher(filter.exes);
    tests.push((ev) => {
      const exe = exeOf(ev);
      return exe !== undefined && matches(exe);
    });
  }
  if (filter.notKeys?.length) {
    const keys = new Set(filter.notKeys);
    tests.push((ev) => !ev.keys.some((k) => keys.has(k)));
  }
  if (filter.notExes?.length) {
    const matches = exeMatcher(filter.notExes);
    tests.push((ev) => {
      const exe = exeOf(ev);
      return exe === undefined || !matches(exe);
    });
  }
  if (filter.exeMatch !== undefined) {
    const re = regex('exe match', filter.exeMatch);
    tests.push((ev) => {
      const exe = exeOf(ev);
      return exe !== undefined && exe.length <= MATCH_MAX && re.test(exe);
    });
  }
  if (filter.notExeMatch !== undefined) {
    const re = regex('not exe match', filter.notExeMatch);
    tests.push((ev) => {
      const exe = exeOf(ev);
      return exe === undefined || exe.length > MATCH_MAX || !re.test(exe);
    });
  }
  if (filter.pathMatch !== undefined) {
    const re = regex('path match', filter.pathMatch);
    tests.push((ev) => pathsOf(ev).some((p) => p.length <= MATCH_MAX && re.test(p)));
  }
  if (filter.notPathMatch !== undefined) {
    const re = regex('not path match', filter.notPathMatch);
    // Left out only when every path is excluded: an event that also touches
    // a path of interest is kept.
    tests.push((ev) => {
      const paths = pathsOf(ev);
      return paths.length === 0 || paths.some((p) => p.length > MATCH_MAX || !re.test(p));
    });
  }
  if (filter.containers?.length) {
    const wanted = filter.containers;
    tests.push((ev) => {
      const c = ev.container;
      return wanted.some((w) => {
        // Unknown (undefined) is neither the host nor a container.
        if (w === 'host') return c === null;
        if (!c) return false;
        if (w === 'any' || c.id.startsWith(w) || c.name === w || c.pod === w) return true;
        const slash = w.indexOf('/');
        return slash > 0 && c.namespace === w.slice(0, slash) && c.pod === w.slice(slash + 1);
      });
    });
  }
  if (filter.success !== undefined) {
    const want = filter.success;
    tests.push((ev) => {
      const r = ev.records.find((x) => x.fields.success !== undefined || x.fields.res !== undefined);
      if (r === undefined) return false;
      const v = r.fields.success ?? r.fields.res;
      return (v === 'yes' || v === 'success' || v === '1') === want;
    });
  }
  if (tests.length === 0) return () => true;
  return (ev) => {
    for (const t of tests) if (!t(ev)) return false;
    return true;
  };
}

/**
 * Record types left out of events, to make them smaller: `TYPE` always, or
 * `TYPE:IF` only when the event also has a record of type IF (PROCTITLE:EXECVE:
 * the title repeats the command line the EXECVE records hold). Asked for, so
 * not loss; an event keeps at least its first record.
 */
export function compileRecordDrop(specs: string[]): ((ev: AuditEvent) => void) | undefined {
  if (specs.length === 0) return undefined;
  const typeOf = (name: string): number => {
    const n = /^\d+$/.test(name) ? Number(name) : recordTypeNumber(name.toUpperCase());
    if (n < 0) throw new FilterError(`drop record ${name}: unknown record type; use a name such as PROCTITLE, or TYPE:IF (PROCTITLE:EXECVE)`);
    return n;
  };
  const rules = specs.map((s) => {
    const [drop, ifType, extra] = s.split(':');
    if (extra !== undefined || drop === '') throw new FilterError(`drop record ${s}: write TYPE or TYPE:IF_TYPE`);
    return { drop: typeOf(drop), when: ifType === undefined ? undefined : typeOf(ifType) };
  });
  return (ev) => {
    const records = ev.records;
    const present = new Set(records.map((r) => r.type));
    const gone = new Set(rules.filter((r) => present.has(r.drop) && (r.when === undefined || present.has(r.when))).map((r) => r.drop));
    if (gone.size === 0) return;
    ev.replaceRecords(records.filter((r, i) => i === 0 || !gone.has(r.type)));
  };
}
