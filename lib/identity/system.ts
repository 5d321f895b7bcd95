// Names the system knows beyond the files: NSS (sssd, LDAP, extrausers …),
// asked through getpwuid_r/getgrgid_r on a worker thread, since a network
// source can take seconds and the caller is the JS thread that reads events.
// Nothing waits: the first record with an id not in the files says
// unknown(N); the answer is cached (misses too) and later records name it.
import type { IdKind } from './files.js';

export type SystemLookup = (kind: IdKind, id: number, callback: (err: Error | null, name: string | null) => void) => void;

export interface SystemNamesOptions {
  /** Answers kept (names and misses). Default 4096. */
  maxEntries?: number;
  /** How long a name is trusted. Default 10 minutes. */
  hitTtlMs?: number;
  /** How long "no such id" is trusted. Default 1 minute. */
  missTtlMs?: number;
  /** Ids waiting to be asked; more are not asked (counted). Default 1024. */
  maxQueued?: number;
}

interface Answer {
  name: string | null;
  until: number;
}

export class SystemNames {
  private readonly lookup: SystemLookup;
  private readonly maxEntries: number;
  private readonly hitTtlMs: number;
  private readonly missTtlMs: number;
  private readonly maxQueued: number;
  private readonly answers = new Map<string, Answer>();
  private readonly queue: Array<[IdKind, number]> = [];
  private readonly queued = new Set<string>();
  private busy = false;
  /** Set when an answer arrives; whoever memoises names clears it and forgets theirs. */
  private fresh = { passwd: false, group: false };
  readonly counts = { lookups: 0, failures: 0, notAsked: 0 };

  constructor(lookup: SystemLookup, options: SystemNamesOptions = {}) {
    this.lookup = lookup;
    this.maxEntries = Math.max(1, options.maxEntries ?? 4096);
    this.hitTtlMs = options.hitTtlMs ?? 600_000;
    this.missTtlMs = options.missTtlMs ?? 60_000;
    this.maxQueued = Math.max(1, options.maxQueued ?? 1024);
  }

  /** The name if the system has answered (null: it has none); undefined while it is being asked. */
  nameOf(kind: IdKind, id: number, now = Date.now()): string | null | undefined {
    const key = `${kind}:${id}`;
    const a = this.answers.get(key);
    if (a !== undefined && now < a.until) return a.name;
    if (!this.queued.has(key)) {
      if (this.queue.length >= this.maxQueued) {
        this.counts.notAsked++;
        return a?.name;
      }
      this.queued.add(key);
      this.queue.push([kind, id]);
      this.pump();
    }
    // A stale answer serves until the new one comes.
    return a?.name;
  }

  /** Whether an answer for `kind` arrived since the last call (and forget that it did). */
  takeFresh(kind: IdKind): boolean {
    const f = this.fresh[kind];
    this.fresh[kind] = false;
    return f;
  }

  // One lookup at a time: each holds a thread of libuv's pool (shared with
  // file I/O) for as long as the NSS source takes.
  private pump(): void {
    if (this.busy) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.busy = true;
    const [kind, id] = next;
    const key = `${kind}:${id}`;
    this.counts.lookups++;
    this.lookup(kind, id, (err, name) => {
      this.busy = false;
      this.queued.delete(key);
      if (err) this.counts.failures++;
      else {
        if (this.answers.size >= this.maxEntries) this.answers.delete(this.answers.keys().next().value!);
        this.answers.delete(key);
        this.answers.set(key, { name, until: Date.now() + (name === null ? this.missTtlMs : this.hitTtlMs) });
        if (name !== null) this.fresh[kind] = true;
      }
      this.pump();
    });
  }
}
