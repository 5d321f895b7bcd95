// Users and groups from passwd-format files, for everything that turns ids
// into names (interpretation) or names into ids (rules). One reading of the
// files, one rule for duplicates (the first entry wins, as glibc's files
// backend answers getpwuid and getpwnam), one place to point them elsewhere
// (an agent in a container names the host's users from /host/etc/passwd).
import fs from 'node:fs';
import type { SystemNames } from './system.js';

interface IdFile {
  byId: Map<number, string>;
  byName: Map<string, number>;
  /** Set by the watcher when the file changes; the next lookup reads it again. */
  stale: boolean;
}

const files = new Map<string, IdFile>();
const SYSTEM_PATHS = { passwd: '/etc/passwd', group: '/etc/group' };
const paths = { ...SYSTEM_PATHS };
let system: SystemNames | undefined;

/** Where user and group names come from. */
export function useIdentityFiles(which: { passwd?: string; group?: string }): void {
  if (which.passwd) paths.passwd = which.passwd;
  if (which.group) paths.group = which.group;
}

/**
 * Ask the system (NSS) for ids the files do not name, when the files in use
 * are this system's own: another host's files (useIdentityFiles) are not
 * completed with this one's directory. The live subscription turns it on;
 * the addon-free parts never ask.
 */
export function useSystemNames(names: SystemNames): void {
  system ??= names;
}

export type IdKind = 'passwd' | 'group';

/** The file in use for users or groups now (answers cached by callers are keyed by it). */
export function identityFile(kind: IdKind): string {
  return paths[kind];
}

function load(file: string): IdFile {
  const entry: IdFile = { byId: new Map(), byName: new Map(), stale: false };
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const parts = line.split(':');
      if (parts.length < 3 || !/^\d+$/.test(parts[2])) continue;
      const id = Number(parts[2]);
      if (!entry.byId.has(id)) entry.byId.set(id, parts[0]);
      if (!entry.byName.has(parts[0])) entry.byName.set(parts[0], id);
    }
    // Tools replace these files (rename over them), so any event means: read
    // again, and watch the new file. The watcher never keeps the process alive.
    const watcher = fs.watch(file, { persistent: false }, () => {
      entry.stale = true;
      watcher.close();
    });
    watcher.on('error', () => (entry.stale = true));
  } catch {
    // Unreadable: ids stay numbers (unknown(N)) rather than retrying per lookup.
  }
  return entry;
}

function table(kind: IdKind): IdFile {
  const file = paths[kind];
  let entry = files.get(file);
  if (!entry || entry.stale) files.set(file, (entry = load(file)));
  return entry;
}

/** The name of a user or group id, or undefined when neither the file nor (yet) the system has one. */
export function nameOf(kind: IdKind, id: number): string | undefined {
  const name = table(kind).byId.get(id);
  if (name !== undefined || system === undefined || paths[kind] !== SYSTEM_PATHS[kind]) return name;
  return system.nameOf(kind, id) ?? undefined;
}

/** The id of a user or group name, or undefined when the file has none. */
export function idOf(kind: IdKind, name: string): number | undefined {
  return table(kind).byName.get(name);
}

/** Whether the file changed, or the system named an id, since `nameOf` last answered (callers drop what they cached). */
export function identityChanged(kind: IdKind): boolean {
  const fresh = system?.takeFresh(kind) ?? false;
  return (files.get(paths[kind])?.stale ?? true) || fresh;
}
