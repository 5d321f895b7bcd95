// What each container has been seen to do: the programs it ran, the ports it
// listened on, where it connected to, the users its processes ran as. A
// profile learns for a while after the container is first seen; after that,
// anything outside it is new, once. Profiles are bounded (a cap per container
// and kind, and on the number of containers), and kept in a state file so a
// restart does not start learning again.
import fs from 'node:fs';
import path from 'node:path';

export const PROFILE_KINDS = ['programs', 'listening', 'destinations', 'users'] as const;
export type ProfileKind = (typeof PROFILE_KINDS)[number];

/** The host is one more "container", under this id. */
export const HOST_ID = 'host';

export interface LearnOptions {
  /** Learning lasts this long from when a container is first seen. Default 10 minutes. */
  ms?: number;
  /** …or ends sooner, after this many of the container's watched events. Default: no count. */
  events?: number;
}

export interface ProfileOptions {
  learn?: LearnOptions;
  /**
   * Profiles of containers not seen for this long are forgotten (the host's
   * never is), so a host that runs thousands of short-lived containers does
   * not fill maxContainers. Default 24 hours.
   */
  forgetAfterMs?: number;
  /** Most items of one kind kept per container; beyond it, counted and alerted once (profile-full). Default 1000. */
  maxItemsPerKind?: number;
  /** Most containers kept; beyond it, new containers are counted (untracked) and not profiled. Default 10000. */
  maxContainers?: number;
}

export interface Profile {
  runtime: string;
  name?: string;
  /** When the container was first seen (ms since the epoch), and until when it learns. */
  firstSeen: number;
  /** When it was last seen (to the minute: kept on disk). */
  lastSeen: number;
  learnUntil: number;
  /** Watched events seen while learning (for `learn.events`). */
  learnedEvents: number;
  learning: boolean;
  items: Record<ProfileKind, Set<string>>;
  /** Kinds whose cap was hit (alerted once). */
  full: Set<ProfileKind>;
}

/** What a sighting means for the profile. */
export type Verdict = 'learned' | 'known' | 'new' | 'full' | 'over-cap' | 'untracked';

const STATE_VERSION = 1;
/** How often profiles are swept for age, and how finely lastSeen is kept. */
const SWEEP_MS = 60_000;

interface StateFile {
  version: number;
  savedAt: string;
  containers: Record<string, { runtime: string; name?: string; firstSeen: number; lastSeen?: number; learnUntil: number; learnedEvents: number; learning: boolean } & Record<ProfileKind, string[]>>;
}

/** A state file that cannot be used: the message says which and what to do. */
export class WatchStateError extends Error {
  readonly code = 'ERR_AUDIT_WATCH_STATE';
}

export class Profiles {
  private readonly byId = new Map<string, Profile>();
  private readonly learnMs: number;
  private readonly learnEvents: number;
  private readonly maxItems: number;
  private readonly maxContainers: number;
  private readonly forgetAfterMs: number;
  /** Sightings not kept because a cap was reached, containers not tracked, profiles forgotten for age. */
  readonly counts = { overCap: 0, untracked: 0, expired: 0 };
  private dirty = false;
  private lastSweep = 0;

  constructor(options: ProfileOptions = {}) {
    this.learnMs = options.learn?.ms ?? 10 * 60_000;
    this.learnEvents = options.learn?.events ?? Infinity;
    this.maxItems = options.maxItemsPerKind ?? 1000;
    this.maxContainers = options.maxContainers ?? 10_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 24 * 3_600_000;
  }

  get size(): number {
    return this.byId.size;
  }

  get changed(): boolean {
    return this.dirty;
  }

  get(id: string): Profile | undefined {
    return this.byId.get(id);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** The container's profile, made when it is first seen at `now`; undefined past maxContainers. */
  see(id: string, runtime: string, name: string | undefined, now: number): Profile | undefined {
    if (now - this.lastSweep >= SWEEP_MS) this.expire(now);
    let p = this.byId.get(id);
    if (p === undefined) {
      if (this.byId.size >= this.maxContainers) {
        this.counts.untracked++;
        return undefined;
      }
      p = { runtime, name, firstSeen: now, lastSeen: now, learnUntil: now + this.learnMs, learnedEvents: 0, learning: true, items: emptyItems(), full: new Set() };
      this.byId.set(id, p);
      this.dirty = true;
    } else if (now - p.lastSeen >= SWEEP_MS) {
      // To the minute: a busy container would otherwise make every save write the whole state.
      p.lastSeen = now;
      this.dirty = true;
    }
    if (name !== undefined && p.name !== name) {
      p.name = name;
      this.dirty = true;
    }
    if (p.learning) {
      p.learnedEvents++;
      if (now >= p.learnUntil || p.learnedEvents > this.learnEvents) p.learning = false;
      this.dirty = true;
    }
    return p;
  }

  /** Record `item` of `kind` for the profile: what it means for alerting. */
  note(p: Profile, kind: ProfileKind, item: string): Verdict {
    const set = p.items[kind];
    if (set.has(item)) return 'known';
    if (set.size >= this.maxItems) {
      this.counts.overCap++;
      if (p.full.has(kind)) return 'over-cap';
      p.full.add(kind);
      this.dirty = true;
      return 'full';
    }
    set.add(item);
    this.dirty = true;
    return p.learning ? 'learned' : 'new';
  }

  /** Forget the profiles of containers not seen within forgetAfterMs of `now`. */
  expire(now: number): void {
    this.lastSweep = now;
    for (const [id, p] of this.byId) {
      if (id === HOST_ID || now - p.lastSeen <= this.forgetAfterMs) continue;
      this.byId.delete(id);
      this.counts.expired++;
      this.dirty = true;
    }
  }

  /** Forget one container (or all when `id` is undefined); returns the ids forgotten. */
  forget(id?: string): string[] {
    const gone = id === undefined ? this.ids() : this.ids().filter((k) => k === id || (id.length >= 12 && k.startsWith(id)));
    for (const k of gone) this.byId.delete(k);
    if (gone.length > 0) this.dirty = true;
    return gone;
  }

  /** Read a state file; a missing file is an empty state. */
  load(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new WatchStateError(`cannot read the watch state ${file}: ${(e as Error).message}`, { cause: e });
    }
    let state: StateFile;
    try {
      state = JSON.parse(text) as StateFile;
    } catch (e) {
      throw new WatchStateError(`the watch state ${file} is not JSON (${(e as Error).message}); move it aside to start learning again`, { cause: e });
    }
    if (state.version !== STATE_VERSION || typeof state.containers !== 'object' || state.containers === null) {
      throw new WatchStateError(`the watch state ${file} has version ${String(state.version)}, this linux-audit reads version ${STATE_VERSION}; move it aside to start learning again`);
    }
    for (const [id, c] of Object.entries(state.containers)) {
      const items = emptyItems();
      for (const kind of PROFILE_KINDS) for (const item of Array.isArray(c[kind]) ? c[kind].slice(0, this.maxItems) : []) items[kind].add(String(item));
      this.byId.set(id, {
        runtime: String(c.runtime),
        name: c.name,
        firstSeen: Number(c.firstSeen),
        // Files from before lastSeen was kept: seen when they were saved.
        lastSeen: Number(c.lastSeen ?? Date.parse(state.savedAt)) || Number(c.firstSeen),
        learnUntil: Number(c.learnUntil),
        learnedEvents: Number(c.learnedEvents) || 0,
        learning: Boolean(c.learning),
        items,
        full: new Set(PROFILE_KINDS.filter((k) => items[k].size >= this.maxItems)),
      });
    }
    this.dirty = false;
  }

  /** Write the state atomically (temporary file, then rename), readable by root only. */
  save(file: string): void {
    const state: StateFile = { version: STATE_VERSION, savedAt: new Date().toISOString(), containers: {} };
    for (const [id, p] of this.byId) {
      state.containers[id] = {
        runtime: p.runtime,
        ...(p.name !== undefined && { name: p.name }),
        firstSeen: p.firstSeen,
        lastSeen: p.lastSeen,
        learnUntil: p.learnUntil,
        learnedEvents: p.learnedEvents,
        learning: p.learning,
        programs: [...p.items.programs],
        listening: [...p.items.listening],
        destinations: [...p.items.destinations],
        users: [...p.items.users],
      };
    }
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    fs.renameSync(tmp, file);
    this.dirty = false;
  }
}

function emptyItems(): Record<ProfileKind, Set<string>> {
  return { programs: new Set(), listening: new Set(), destinations: new Set(), users: new Set() };
}
