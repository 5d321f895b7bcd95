// Which container a process runs in, from its cgroup path. Every container
// shares the host kernel, and the runtimes name the cgroup they put a
// container in after its id: that path is how an audit event is tied to a
// container.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerDetails, RuntimeClient } from './runtime.js';

export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman' | 'kubernetes' | 'lxc';

export interface ContainerInfo extends ContainerDetails {
  /** The container id (64 hex digits for docker, containerd, CRI-O and podman; the name for LXC). */
  id: string;
  runtime: ContainerRuntime;
  /** Kubernetes pod uid, when the cgroup is under kubepods. */
  podUid?: string;
  /** The cgroup path the id was read from. */
  cgroup: string;
}

const HEX64 = '([0-9a-f]{64})';
/** Cgroup path patterns, most specific first. */
const PATTERNS: ReadonlyArray<readonly [RegExp, ContainerRuntime]> = [
  // systemd cgroup driver: one scope per container
  [new RegExp(`/docker-${HEX64}\\.scope(?:/|$)`), 'docker'],
  [new RegExp(`/cri-containerd-${HEX64}\\.scope(?:/|$)`), 'containerd'],
  [new RegExp(`/crio-${HEX64}\\.scope(?:/|$)`), 'cri-o'],
  [new RegExp(`/libpod-${HEX64}\\.scope(?:/|$)`), 'podman'],
  // cgroupfs driver
  [new RegExp(`/docker/${HEX64}(?:/|$)`), 'docker'],
  [new RegExp(`/libpod_parent/libpod-${HEX64}(?:/|$)`), 'podman'],
  [new RegExp(`/kubepods[^/]*(?:/[^/]+)?/pod[0-9a-f_-]{36}/${HEX64}(?:/|$)`), 'kubernetes'],
  [new RegExp(`^/[^/]+/${HEX64}$`), 'containerd'], // containerd without Kubernetes: /<namespace>/<id>
  [/\/lxc(?:\.payload)?[./]([^/]+)(?:\/|$)/, 'lxc'],
];

const POD = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;

/** The container a cgroup path names, or undefined for the host. */
export function containerFromPath(cgroup: string): ContainerInfo | undefined {
  for (const [re, runtime] of PATTERNS) {
    const m = re.exec(cgroup);
    if (!m) continue;
    // A runtime's monitor (conmon) and the pod's pause cgroups are not containers.
    if (/conmon/.test(m[0])) continue;
    const pod = POD.exec(cgroup)?.[1].replace(/_/g, '-');
    return { id: m[1], runtime, ...(pod !== undefined && { podUid: pod }), cgroup };
  }
  return undefined;
}

/**
 * The container of a /proc/<pid>/cgroup text (cgroup v1 and v2 lines, as
 * `hierarchy:controllers:path`). The first line that names a container wins:
 * runtimes put a container's processes in the same place in every hierarchy.
 */
export function containerFromCgroup(text: string): ContainerInfo | undefined {
  for (const line of text.split('\n')) {
    const second = line.indexOf(':', line.indexOf(':') + 1);
    if (second < 0) continue;
    const found = containerFromPath(line.slice(second + 1));
    if (found) return found;
  }
  return undefined;
}

export interface ContainerResolverOptions {
  /** Where /proc is (a host's /proc mounted in a container: /host/proc). */
  procRoot?: string;
  /** Processes remembered. Default 4096. */
  maxEntries?: number;
  /** How long an answer is trusted before the process's cgroup is read again. Default 5000 ms. */
  revalidateMs?: number;
  /** Asks the container runtime for names, images and pods (in the background). */
  runtime?: RuntimeClient;
}

interface Entry {
  info: ContainerInfo | null;
  checkedAt: number;
}

/**
 * Container lookups by pid, cached in a bounded LRU. An answer is trusted for
 * revalidateMs, then the cgroup is read again: a pid reused by a new process,
 * or a process a runtime moved into a container, is seen as it is now. A busy
 * process costs one small /proc read every few seconds, not one per event.
 */
export class ContainerResolver {
  private readonly procRoot: string;
  private readonly maxEntries: number;
  private readonly revalidateMs: number;
  private readonly runtime: RuntimeClient | undefined;
  private readonly cache = new Map<number, Entry>();
  /** /proc reads made, for tests and stats. */
  reads = 0;

  constructor(options: ContainerResolverOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.maxEntries = Math.max(1, options.maxEntries ?? 4096);
    this.revalidateMs = options.revalidateMs ?? 5000;
    this.runtime = options.runtime;
  }

  /**
   * The container of `pid`, null for a host process, undefined when neither
   * it nor `ppid` (tried when the process is already gone) can be read.
   * `fresh` reads /proc now instead of trusting an answer up to revalidateMs
   * old: a process moved to another cgroup since (a runtime placing a
   * process it started) is seen where it is. The container watch asks so.
   */
  lookup(pid: number, ppid?: number, fresh = false): ContainerInfo | null | undefined {
    let info = this.lookupOne(pid, fresh);
    if (info === undefined && ppid !== undefined) info = this.lookupOne(ppid, fresh);
    if (!info || !this.runtime) return info;
    // Names and images when the runtime has already told us; else it is asked now, for later events.
    const details = this.runtime.details(info.id);
    return details ? { ...info, ...details } : info;
  }

  private lookupOne(pid: number, fresh: boolean): ContainerInfo | null | undefined {
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const now = Date.now();
    const hit = fresh ? undefined : this.cache.get(pid);
    if (hit && now - hit.checkedAt < this.revalidateMs) {
      this.touch(pid, hit);
      return hit.info;
    }
    let text: string;
    try {
      this.reads++;
      text = fs.readFileSync(path.join(this.procRoot, String(pid), 'cgroup'), 'utf8');
    } catch {
      this.cache.delete(pid);
      return undefined;
    }
    const entry: Entry = { info: containerFromCgroup(text) ?? null, checkedAt: now };
    this.touch(pid, entry);
    return entry.info;
  }

  private touch(pid: number, entry: Entry): void {
    this.cache.delete(pid);
    this.cache.set(pid, entry);
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
  }

}
