// Who started a process: a bounded table of processes, filled from the
// stream's own execve/clone/exit events and from /proc for processes the
// stream has not shown, giving each event its chain of parents.
import fs from 'node:fs';
import path from 'node:path';
import { processStartTime } from '../proc/index.js';

export interface ProcessInfo {
  pid: number;
  ppid: number | undefined;
  exe: string | undefined;
  comm: string | undefined;
  argv: string[] | undefined;
}

export interface ProcessTableOptions {
  /** Where /proc is. Default /proc. */
  procRoot?: string;
  /** Processes remembered. Default 8192. */
  maxEntries?: number;
}

interface Entry extends ProcessInfo {
  /** Start time from /proc (to notice pid reuse), or undefined when learned from events. */
  startTime: string | undefined;
  checkedAt: number;
}

/** How long an entry read from /proc is trusted before its start time is checked again. */
const REVALIDATE_MS = 5000;

/**
 * A process table. `execve`, `fork` and `exit` teach it as the stream shows
 * them (a short-lived process can be named after it is gone); /proc fills in
 * the rest, read once per process. Bounded: the least recently used goes.
 */
export class ProcessTable {
  private readonly procRoot: string;
  private readonly maxEntries: number;
  private readonly table = new Map<number, Entry>();
  /** /proc reads made. */
  reads = 0;

  constructor(options: ProcessTableOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.maxEntries = Math.max(16, options.maxEntries ?? 8192);
  }

  /** A process replaced its program (a successful execve). */
  exec(pid: number, ppid: number | undefined, exe: string | undefined, comm: string | undefined, argv: string[] | undefined): void {
    this.put({ pid, ppid, exe, comm, argv, startTime: undefined, checkedAt: Date.now() });
  }

  /** A process forked (clone, fork, vfork, clone3 returned `child`): the child runs the parent's program. */
  fork(parent: number, child: number): void {
    // The parent's clone often returns after the child has already exec'd:
    // what the child's exec told us is newer than this.
    if (this.table.get(child)?.ppid === parent) return;
    const p = this.entry(parent);
    this.put({ pid: child, ppid: parent, exe: p?.exe, comm: p?.comm, argv: p?.argv, startTime: undefined, checkedAt: Date.now() });
  }

  /** What we know of `pid`: from the stream, else /proc. */
  get(pid: number): ProcessInfo | undefined {
    const e = this.entry(pid);
    return e && { pid: e.pid, ppid: e.ppid, exe: e.exe, comm: e.comm, argv: e.argv };
  }

  private entry(pid: number): Entry | undefined {
    const hit = this.table.get(pid);
    // An entry from /proc may outlive its process and see the pid reused.
    if (hit && (hit.startTime === undefined || Date.now() - hit.checkedAt < REVALIDATE_MS || this.startTime(pid) === hit.startTime)) {
      hit.checkedAt = Date.now();
      this.table.delete(pid);
      this.table.set(pid, hit);
      return hit;
    }
    const read = this.readProc(pid);
    if (read) this.put(read);
    return read;
  }

  /** The parents of `pid`, nearest first, up to `depth` (and not past pid 1). */
  ancestry(pid: number, depth = 5): ProcessInfo[] {
    const chain: ProcessInfo[] = [];
    let ppid = this.get(pid)?.ppid;
    const seen = new Set<number>([pid]);
    while (ppid !== undefined && ppid > 0 && chain.length < depth && !seen.has(ppid)) {
      seen.add(ppid);
      const p = this.get(ppid);
      if (!p) break;
      chain.push(p);
      if (ppid === 1) break;
      ppid = p.ppid;
    }
    return chain;
  }

  private put(entry: Entry): void {
    this.table.delete(entry.pid);
    this.table.set(entry.pid, entry);
    if (this.table.size > this.maxEntries) this.table.delete(this.table.keys().next().value!);
  }

  private startTime(pid: number): string | undefined {
    this.reads++;
    return processStartTime(pid, this.procRoot);
  }

  private readProc(pid: number): Entry | undefined {
    const dir = path.join(this.procRoot, String(pid));
    let stat: string;
    try {
      this.reads++;
      stat = fs.readFileSync(path.join(dir, 'stat'), 'latin1');
    } catch {
      return undefined;
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const rest = stat.slice(close + 2).split(' ');
    const read = (f: () => string): string | undefined => {
      try {
        return f();
      } catch {
        return undefined;
      }
    };
    const cmdline = read(() => fs.readFileSync(path.join(dir, 'cmdline'), 'utf8'));
    return {
      pid,
      ppid: Number(rest[1]),
      comm: stat.slice(open + 1, close),
      exe: read(() => fs.readlinkSync(path.join(dir, 'exe'))),
      argv: cmdline ? cmdline.replace(/\0$/, '').split('\0') : undefined,
      startTime: rest[19],
      checkedAt: Date.now(),
    };
  }
}
