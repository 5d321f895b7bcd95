// A container runtime's own work, told from what a container does. Starting a
// container is dozens of mounts, an unshare and a pivot_root made by the
// runtime's init process after it has joined the container's cgroup (runc's
// "runc:[2:INIT]"), and mounts by the engine on the host (dockerd's overlay,
// runc's copy of itself, kubelet's volumes): alerted as they come, every
// container start would page someone.
//
// What tells them apart cannot come from inside a container: a process there
// may call itself anything and put any file at /usr/sbin/runc. So:
// - on the host (cgroup says host), the engine's programs are known by their
//   path, which only the host's root can replace;
// - in a container, a call is the runtime's when the process's parent is a
//   runtime program the stream saw start on the host, and the process has not
//   run a program of its own since (every exec is watched, so the stream says
//   when it did; the runtime re-executing itself, at the runtime's path, is
//   not a program of its own). A container's processes cannot make a host
//   runtime their parent; a `docker exec`'s program keeps runc as its parent
//   for a moment, but by then its exec has been seen, so its calls are its
//   own, unless what was exec'd sits at the runtime's own path in the
//   container (docs/watch.md says so).
// A runtime program started before the watch is not known: its calls alert.

/** Programs of the engines and runtimes, by their name on the host. */
const ENGINE_PROGRAMS = new Set(['dockerd', 'containerd', 'containerd-shim', 'containerd-shim-runc-v1', 'containerd-shim-runc-v2', 'runc', 'crun', 'youki', 'runsc', 'conmon', 'podman', 'kubelet', 'crio']);
/** Of those, the ones whose children become a container's first process (or an exec's). */
const RUNTIME_PROGRAMS = new Set(['runc', 'crun', 'youki', 'runsc']);

/** Runtime processes remembered; each lives for the few hundred milliseconds of a start or an exec. */
const MAX_RUNTIMES = 1024;
/** How long a runtime's pid is trusted after its exec: a pid is reused once it has gone. */
const RUNTIME_TTL_MS = 60_000;
/** Container processes remembered as having run a program of their own. */
const MAX_EXECED = 16384;

function programName(exe: string): string {
  return exe.slice(exe.lastIndexOf('/') + 1);
}

/** Whether `exe` is an engine's or runtime's program, installed where the host's packages put them. */
export function isEngineProgram(exe: string): boolean {
  return /^\/usr\/(local\/)?s?bin\/[^/]+$/.test(exe) && ENGINE_PROGRAMS.has(programName(exe));
}

export class RuntimeSetup {
  /** Host processes that ran a runtime program: pid → when. */
  private readonly runtimes = new Map<number, number>();
  /** Container processes that have run a program since they were made. */
  private readonly execed = new Set<number>();

  /**
   * An exec the watch saw: `inContainer` from the event's container
   * (undefined: unknown). True when the exec is the runtime's own work in a
   * container, which is neither the container's program nor to be learned.
   */
  noteExec(pid: number, ppid: number | undefined, exe: string, inContainer: boolean | undefined, time: number): boolean {
    const runtime = isEngineProgram(exe) && RUNTIME_PROGRAMS.has(programName(exe));
    if (inContainer === false && runtime) {
      this.runtimes.delete(pid);
      if (this.runtimes.size >= MAX_RUNTIMES) this.runtimes.delete(this.runtimes.keys().next().value!);
      this.runtimes.set(pid, time);
      return false;
    }
    this.runtimes.delete(pid);
    // runc re-executing itself as the container's init, already in the
    // container's cgroup (podman's conmon puts it there first; under Docker
    // runc moves its child there around that exec, so the cgroup read may
    // say either): still the runtime's. It is a runtime's child running the
    // runtime's own path.
    if (inContainer === true && runtime && ppid !== undefined && this.isRuntime(ppid, time)) return true;
    if (inContainer !== false) {
      if (this.execed.size >= MAX_EXECED) this.execed.clear();
      this.execed.add(pid);
    }
    return false;
  }

  private isRuntime(pid: number, time: number): boolean {
    const since = this.runtimes.get(pid);
    return since !== undefined && time - since <= RUNTIME_TTL_MS;
  }

  /**
   * Whether a mount or namespace call is the runtime's setup: on the host by
   * an engine's program; in a container by a runtime's child that has run
   * nothing of its own.
   */
  isSetup(pid: number | undefined, ppid: number | undefined, exe: string, inContainer: boolean | undefined, time: number): boolean {
    if (inContainer === false) return isEngineProgram(exe);
    if (inContainer !== true || pid === undefined || ppid === undefined || this.execed.has(pid)) return false;
    return this.isRuntime(ppid, time);
  }
}
