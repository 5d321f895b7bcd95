// Users and groups from passwd-format files, for everything that turns ids
// into names (interpretation) or names into ids (rules). One reading of the
// files, one rule for duplicates (the first entry wins, as glibc's files
// backend answers getpwuid and getpwnam), one place to point them elsewhere
// (an agent in a container names the host's users from /host/etc/passwd).
import fs from 'node:fs';

interface IdFile {
  byId: Map<number, string>;
  byName: Map<string, number>;
  /** Set by the watcher when the file changes; the next lookup reads it again. */
  stale: boolean;
}

const files = new Map<string, IdFile>();
const paths = { passwd: '/etc/passwd', group: '/etc/group' };

/** Where user and group names come from. */
export function useIdentityFiles(which: { passwd?: string; group?: string }): void {
  if (which.passwd) paths.passwd = which.passwd;
  if (which.group) paths.group = which.group;
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

/** The name of a user or group id, or undefined when the file has none. */
export function nameOf(kind: IdKind, id: number): string | undefined {
  return table(kind).byId.get(id);
}

/** The id of a user or group name, or undefined when the file has none. */
export function idOf(kind: IdKind, name: string): number | undefined {
  return table(kind).byName.get(name);
}

/** Whether the file changed since `nameOf` last read it (callers drop what they cached). */
export function identityChanged(kind: IdKind): boolean {
  return files.get(paths[kind])?.stale ?? true;
}
