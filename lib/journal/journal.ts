// A subscription changes global kernel state (the daemon pid, enabled, the
// backlog limit, rules) and undoes it on close, on abort and at exit. SIGKILL,
// an OOM kill or a power cut leave no chance to: so every change is written
// down before it is made, in /run/linux-audit/journal/<pid>-<n>.json, and the
// next subscription to start undoes what a dead process's journal says it left.
import fs from 'node:fs';
import path from 'node:path';
import { processStartTime } from '../proc/index.js';
import type { AuditClient } from '../client/client.js';

/**
 * Where running agents and subscriptions leave files for each other: a tmpfs,
 * gone at reboot as the kernel state is. LINUX_AUDIT_RUN_DIR moves it (tests, containers).
 */
export function runDir(): string {
  return process.env.LINUX_AUDIT_RUN_DIR ?? '/run/linux-audit';
}

const journalDir = (): string => path.join(runDir(), 'journal');
const VERSION = 1;

/**
 * Why a path cannot be trusted with journals, or undefined when it can: a
 * journal tells a root process what to undo in the kernel, so one planted by
 * someone else must never be read, and ours must not be written through a
 * link to somewhere else. Checked with lstat: no symlink, owned by root (or
 * by this process's user), writable by nobody else.
 */
export function untrusted(p: string, kind: 'directory' | 'file'): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return undefined; // nothing there: nothing to trust yet
  }
  const uid = process.geteuid?.() ?? 0;
  if (st.isSymbolicLink()) return `${p} is a symbolic link`;
  if (kind === 'directory' ? !st.isDirectory() : !st.isFile()) return `${p} is not a ${kind}`;
  if (st.uid !== 0 && st.uid !== uid) return `${p} is owned by uid ${st.uid}, not root`;
  if ((st.mode & 0o022) !== 0) return `${p} is writable by ${st.mode & 0o002 ? 'anyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/** A setting changed from `before` to `set`. */
export interface SettingChange {
  before: number;
  set: number;
}

/** What one subscription has changed (or is about to change) in the kernel. */
export interface JournalEntry {
  version: number;
  pid: number;
  /** The process's start time (see processStartTime): a reused pid is not the same process. */
  startTime: string | undefined;
  command: string;
  enabled?: SettingChange;
  backlogLimit?: SettingChange;
  /** Rules added, in auditctl syntax, in the order added. */
  rules: string[];
  /**
   * Set when the subscription closed leaving its rules and settings in place
   * on purpose, for the next start that names the same handover to adopt
   * (a planned restart with no window without rules). A start that names
   * another, or none, undoes them as it undoes a crash's.
   */
  handover?: string;
}

/** A handover's journal, once its adopter's own journal holds the changes. */
export function removeHandover(file: string): void {
  fs.rmSync(file, { force: true });
}

/** What a start adopts from a handover: the changes become its own, to undo at its close. */
export interface Adopted {
  pid: number;
  command: string;
  rules: string[];
  enabled?: SettingChange;
  backlogLimit?: SettingChange;
  /** The handover's journal: remove once the adopter's own journal holds the changes. */
  file: string;
}

let sequence = 0;

/** One subscription's journal. Writing is best effort: without a writable /run, a SIGKILL leaves what it leaves, as before. */
export class ChangeJournal {
  readonly entry: JournalEntry;
  private readonly path = path.join(journalDir(), `${process.pid}-${++sequence}.json`);
  private written = false;

  constructor() {
    this.entry = {
      version: VERSION,
      pid: process.pid,
      startTime: processStartTime(process.pid),
      command: (process.argv.slice(1).map((a) => path.basename(a)).join(' ') || path.basename(process.execPath)).slice(0, 200),
      rules: [],
    };
  }

  /** Write the entry as it now stands: call before making the change it records. */
  save(): void {
    try {
      fs.mkdirSync(path.dirname(this.path), { recursive: true, mode: 0o700 });
      // A directory someone else controls is not written to (and not read from: see findOrphans).
      if (untrusted(runDir(), 'directory') ?? untrusted(journalDir(), 'directory')) return;
      const tmp = `${this.path}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(this.entry), { mode: 0o600 });
      fs.renameSync(tmp, this.path);
      this.written = true;
    } catch {
      // Not root or no /run: the subscription works; only crash recovery is lost.
    }
  }

  /** The journal's file, once written. */
  get file(): string | undefined {
    return this.written ? this.path : undefined;
  }

  /**
   * Keep the journal as a handover: its changes stay for the next start named
   * `name`. False when it could not be written: then nothing may be left
   * behind, since nothing would know whose it is.
   */
  handOver(name: string): boolean {
    this.entry.handover = name;
    this.written = false;
    this.save();
    const saved = this.written;
    this.written = false;
    return saved;
  }

  /** Everything is undone (or was never done). */
  remove(): void {
    if (this.written) fs.rmSync(this.path, { force: true });
    this.written = false;
  }
}

/** A journal left by a process that is gone. */
interface Orphan {
  file: string;
  entry: JournalEntry;
}

/**
 * Journals whose process is gone (dead, or its pid now names another
 * process), and the journals or directory refused as untrusted, with why.
 */
function findOrphans(): { orphans: Orphan[]; refused: string[] } {
  const refused: string[] = [];
  const dirProblem = untrusted(runDir(), 'directory') ?? untrusted(journalDir(), 'directory');
  if (dirProblem) return { orphans: [], refused: [dirProblem] };
  let names: string[];
  try {
    names = fs.readdirSync(journalDir());
  } catch {
    return { orphans: [], refused };
  }
  const out: Orphan[] = [];
  for (const name of names) {
    const m = /^(\d+)-\d+\.json$/.exec(name);
    if (!m) continue;
    const file = path.join(journalDir(), name);
    const fileProblem = untrusted(file, 'file');
    if (fileProblem) {
      refused.push(fileProblem);
      continue;
    }
    let entry: JournalEntry;
    try {
      entry = JSON.parse(fs.readFileSync(file, 'utf8')) as JournalEntry;
    } catch {
      continue; // being written this instant (rename is atomic), or not ours to judge
    }
    if (entry.version !== VERSION || entry.pid !== Number(m[1])) continue;
    const alive = processStartTime(entry.pid);
    if (alive !== undefined && alive === entry.startTime) continue;
    out.push({ file, entry });
  }
  return { orphans: out, refused };
}

/** What a start found and undid of a dead subscriber's changes. */
export interface Recovery {
  pid: number;
  command: string;
  /** What was undone, one item per change, e.g. 'deleted rule -a always,exit …'. */
  undone: string[];
  /** Changes that could not be undone, with the reason. */
  failed: string[];
  /** One line for a person. */
  message: string;
}

/**
 * Undo what dead subscribers left, newest change first. A setting is put back
 * only if it still holds the value the dead process set: if someone changed
 * it since, theirs stands. A dead daemon's registration needs nothing: the
 * kernel forgets it at the first record it cannot deliver, and a new
 * registration replaces it.
 */
export async function recoverOrphans(client: AuditClient, adopt?: string): Promise<{ recovered: Recovery[]; adopted: Adopted[] }> {
  const { orphans, refused } = findOrphans();
  const out: Recovery[] = refused.map((why) => ({
    pid: 0,
    command: '',
    undone: [],
    failed: [why],
    message: `did not read a crash-recovery journal: ${why}; a journal tells a root process what to undo in the kernel, so only root's own are trusted. Remove it, or fix its owner and mode`,
  }));
  const adopted: Adopted[] = [];
  for (const { file, entry } of orphans) {
    if (adopt !== undefined && entry.handover === adopt) {
      adopted.push({ pid: entry.pid, command: entry.command, rules: entry.rules, enabled: entry.enabled, backlogLimit: entry.backlogLimit, file });
      continue;
    }
    const undone: string[] = [];
    const failed: string[] = [];
    // Every change is tried on its own: one that fails does not keep the others.
    const left: JournalEntry = { ...entry, rules: [], enabled: undefined, backlogLimit: undefined };
    for (const rule of [...entry.rules].reverse()) {
      try {
        await client.deleteRule(rule);
        undone.push(`deleted rule ${rule}`);
      } catch (e) {
        // The change may never have been made (killed between journal and kernel), or someone deleted it.
        if ((e as { code?: string }).code === 'ENOENT') continue;
        failed.push(`rule ${rule}: ${(e as Error).message}`);
        left.rules.unshift(rule);
      }
    }
    let status: Awaited<ReturnType<AuditClient['getStatus']>> | undefined;
    try {
      status = await client.getStatus();
    } catch (e) {
      failed.push(`reading the kernel's status: ${(e as Error).message}`);
      left.enabled = entry.enabled;
      left.backlogLimit = entry.backlogLimit;
    }
    if (status && entry.enabled && status.enabled === entry.enabled.set && status.enabled !== 2) {
      try {
        await client.setEnabled(entry.enabled.before as 0 | 1);
        undone.push(`enabled ${entry.enabled.set} -> ${entry.enabled.before}`);
      } catch (e) {
        failed.push(`enabled ${entry.enabled.set} -> ${entry.enabled.before}: ${(e as Error).message}`);
        left.enabled = entry.enabled;
      }
    }
    if (status && entry.backlogLimit && status.backlogLimit === entry.backlogLimit.set) {
      try {
        await client.setBacklogLimit(entry.backlogLimit.before);
        undone.push(`backlog_limit ${entry.backlogLimit.set} -> ${entry.backlogLimit.before}`);
      } catch (e) {
        failed.push(`backlog_limit ${entry.backlogLimit.set} -> ${entry.backlogLimit.before}: ${(e as Error).message}`);
        left.backlogLimit = entry.backlogLimit;
      }
    }
    // What could not be undone stays in the journal, for the next start to try again.
    if (failed.length === 0) fs.rmSync(file, { force: true });
    else {
      try {
        fs.writeFileSync(`${file}.tmp`, JSON.stringify(left), { mode: 0o600 });
        fs.renameSync(`${file}.tmp`, file);
      } catch {
        // the old journal stays as it was: the next start retries all of it
      }
    }
    const who = `pid ${entry.pid}${entry.command ? ` (${entry.command})` : ''}`;
    // A watch installs dozens of rules: name a few, count the rest, so the line stays readable.
    const rules = undone.filter((u) => u.startsWith('deleted rule '));
    const said = rules.length <= 3 ? undone : [`deleted ${rules.length} rules it had added (${rules.slice(0, 2).map((r) => r.slice('deleted rule '.length)).join('; ')}; …)`, ...undone.filter((u) => !u.startsWith('deleted rule '))];
    const why = entry.handover !== undefined ? `which left its rules for a restart as "${entry.handover}" that did not come` : 'which ended without closing its subscription';
    const message =
      `cleaned up after ${who}, ${why}: ${said.length > 0 ? said.join('; ') : 'nothing was left'}` +
      (failed.length > 0 ? `; could not undo: ${failed.join('; ')} (kept in ${file} for the next start). Check with \`auditctl -s\` and \`auditctl -l\`` : '');
    out.push({ pid: entry.pid, command: entry.command, undone, failed, message });
  }
  return { recovered: out, adopted };
}
