// Which container a process runs in, from its cgroup path. Every container
// shares the host kernel, and the runtimes name the cgroup they put a
// container in after its id: that path is how an audit event is tied to a
// container.
import type { ContainerDetails, RuntimeClient } from './runtime.js';
import type { ContainerdClient } from './containerd.js';

export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman' | 'kubernetes' | 'lxc';

export interface ContainerInfo extends ContainerDetails {
  /** The container id (64 hex digits for docker, containerd, CRI-O and podman; the name for LXC). */
  id: string;
  runtime: ContainerRuntime;
  /** Kubernetes pod uid, when the cgroup is under kubepods or the runtime's labels say it. */
  podUid?: string;
  /** The cgroup path the id was read from ('' when the runtime said so instead). */
  cgroup: string;
  /**
   * How the process was placed: its own cgroup, read as its event arrived;
   * its parent's (it had exited); or the runtime's word (it had exited, and
   * containerd had reported it as a process it started in this container).
   */
  via?: 'cgroup' | 'parent' | 'runtime';
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

/** How the reader thread came by an event's cgroup (native/cgroup.h). */
export const CGROUP_NOT_ASKED = 0;
export const CGROUP_SELF = 1;
export const CGROUP_PARENT = 2;
export const CGROUP_GONE = 3;
export const CGROUP_RUNTIME_PARENT = 4;

/** The container of the distinct cgroup paths the reader thread read (one per line), or undefined for the host. */
export function containerFromPaths(text: string): ContainerInfo | undefined {
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const found = containerFromPath(text.slice(start, end));
    if (found) return found;
    start = end + 1;
  }
  return undefined;
}

export interface ContainerResolverOptions {
  /** Containers remembered by their cgroup text. Default 1024. */
  maxEntries?: number;
  /** Asks the container engine (Docker, podman) for names, images and pods (in the background). */
  runtime?: RuntimeClient;
  /** Asks containerd for names, images and pods, and knows the processes it started. */
  containerd?: ContainerdClient;
}

/** A containerd namespace's runtime: the CRI plugin's is Kubernetes', Docker's engine uses moby. */
function runtimeOfNamespace(namespace: string): ContainerRuntime {
  return namespace === 'k8s.io' ? 'kubernetes' : namespace === 'moby' ? 'docker' : 'containerd';
}

/**
 * Events' containers, from the cgroup text the reader thread read for each
 * (see containerOfEvent), with names, images and pods from the runtime when
 * it has answered. The same few texts come again and again: their meaning is
 * remembered, bounded.
 */
export class ContainerResolver {
  private readonly maxEntries: number;
  private readonly runtime: RuntimeClient | undefined;
  private readonly containerd: ContainerdClient | undefined;
  private readonly known = new Map<string, ContainerInfo | null>();

  constructor(options: ContainerResolverOptions = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 1024);
    this.runtime = options.runtime;
    this.containerd = options.containerd;
  }

  close(): void {
    this.containerd?.close();
  }

  /**
   * Whether an event the reader could not place (its process gone; its
   * parent gone too, or a runtime's process on the host) may still be placed
   * by containerd's report of the processes it starts, which comes a moment
   * after the process did: containerd is there and has not reported the pid.
   */
  awaitsRuntime(text: string | undefined, source: number, pid: number | undefined, time: number): boolean {
    if (pid === undefined || !this.containerd?.active) return false;
    if (source !== CGROUP_GONE && source !== CGROUP_RUNTIME_PARENT) return false;
    if (source === CGROUP_RUNTIME_PARENT && this.resolve(text, source) !== undefined) return false;
    return this.containerd.owner(pid, time) === undefined;
  }

  /**
   * The engines' answer for container `id`, waiting at most `timeoutMs`:
   * its details, or why there are none (no engine to ask, none knows it, no
   * answer in time). For what is sent once and cannot be amended, an alert.
   */
  async detailsWithin(id: string, timeoutMs: number): Promise<ContainerDetails | 'no-engine' | 'not-found' | 'timeout'> {
    const asks: Array<Promise<ContainerDetails | null>> = [];
    if (this.runtime?.active) asks.push(this.runtime.settled(id));
    if (this.containerd?.active) asks.push(this.containerd.settled(id));
    if (asks.length === 0) return 'no-engine';
    let timer: NodeJS.Timeout | undefined;
    // An engine that knows the id but not its name (Docker's own containerd
    // keeps no names) does not end the wait while another may answer with one.
    const answered = new Promise<ContainerDetails | 'not-found'>((resolve) => {
      let left = asks.length;
      let known: ContainerDetails | undefined;
      for (const a of asks)
        void a.then((d) => {
          if (d && (d.name !== undefined || d.pod !== undefined)) return resolve(d);
          known ??= d ?? undefined;
          if (--left === 0) resolve(known ?? 'not-found');
        });
    });
    const late = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([answered, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The container of an event whose cgroup the reader read as `text`, by
   * `source` (CGROUP_*): a process read itself, or, gone, through its parent.
   * A parent that is a container runtime's process on the host (runc, a
   * shim: what `docker exec` runs through) says nothing of where its child
   * ran: unknown, never the host.
   */
  resolve(text: string | undefined, source: number, pid?: number, time?: number): ContainerInfo | null | undefined {
    let info: ContainerInfo | null | undefined;
    if (text !== undefined && (source === CGROUP_SELF || source === CGROUP_PARENT || source === CGROUP_RUNTIME_PARENT)) {
      info = this.known.get(text);
      if (info === undefined) {
        info = containerFromPaths(text) ?? null;
        if (this.known.size >= this.maxEntries) this.known.clear();
        this.known.set(text, info);
      }
      if (info !== null) info = { ...info, via: source === CGROUP_SELF ? 'cgroup' : 'parent' };
      if (source === CGROUP_RUNTIME_PARENT && info === null) info = undefined;
    }
    // Gone before it could be read: containerd may have reported it as a process it started.
    if (info === undefined && pid !== undefined && time !== undefined && this.containerd) {
      const owner = this.containerd.owner(pid, time);
      if (owner) info = { id: owner.id, runtime: runtimeOfNamespace(owner.namespace), cgroup: '', via: 'runtime' };
    }
    if (!info) return info;
    // Names and images when a runtime has already told us; else it is asked now, for later events.
    const details = this.runtime?.details(info.id) ?? this.containerd?.details(info.id);
    return details ? { ...info, ...details } : info;
  }
}
