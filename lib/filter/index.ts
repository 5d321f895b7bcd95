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
    const full = new Set(filter.exes.filter((e) => e.includes('/')));
    const base = new Set(filter.exes.filter((e) => !e.includes('/')));
    tests.push((ev) => {
      const exe = ev.records.find((r) => r.fields.exe !== undefined)?.fields.exe;
      return exe !== undefined && (full.has(exe) || base.has(exe.slice(exe.lastIndexOf('/') + 1)));
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
