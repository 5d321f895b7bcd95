// From an event the watch's rules asked for to the alerts it raises: the
// always-alerts (each documented in docs/watch.md with what it reads and its
// false positives) and the new-against-the-profile ones.
import { SYSCALL } from '../constants/index.js';
import type { AuditEvent } from '../assemble/event.js';
import type { ContainerInfo } from '../enrich/container.js';
import { processOf } from '../shape/json.js';
import type { Alert, AlertContainer, AlertKind, AlertSeverity } from './alert.js';
import { HOST_ID, Profiles, type Profile, type ProfileKind } from './profile.js';
import { WATCH_KEYS, WATCH_KEY_PREFIX } from './rules.js';

/** Looked for in the SYSCALL record's text before anything is decoded: most of the stream is not ours. */
const KEY_MARK = ` key="${WATCH_KEY_PREFIX}`;

/** Directories anyone may write to: a program run from there was put there at run time. */
const WRITABLE_DIRS = ['/tmp/', '/var/tmp/', '/dev/shm/', '/run/shm/'];

const CLOCK_SETTERS = new Set(['settimeofday', 'clock_settime', 'stime']);
/** Records the kernel writes only when adjtimex/clock_adjtime changed something. */
const CLOCK_ADJUSTED = ['TIME_ADJNTPVAL', 'TIME_INJOFFSET'];

export interface DetectStats {
  /** Events the watch's rules matched. */
  watched: number;
  /** Watched events whose process (and parent) had gone before their container could be read. */
  unattributed: number;
  alerts: Partial<Record<AlertKind, number>>;
}

export class Detector {
  readonly profiles: Profiles;
  readonly stats: DetectStats = { watched: 0, unattributed: 0, alerts: {} };
  private readonly containerOf: (ev: AuditEvent) => ContainerInfo | null | undefined;

  /** `containerOf` says which container an event is from (default: `event.container`, from its cgroup). */
  constructor(profiles: Profiles, containerOf?: (ev: AuditEvent) => ContainerInfo | null | undefined) {
    this.profiles = profiles;
    this.containerOf = containerOf ?? ((ev) => ev.container);
  }

  /** The alerts an event raises; [] for events the watch did not ask for. */
  inspect(ev: AuditEvent): Alert[] {
    const sc = ev.record(SYSCALL);
    // Cheapest first: one substring search rejects everything else in the stream.
    if (sc === undefined || !sc.text.includes(KEY_MARK)) return [];
    const key = ev.keys.find((k) => k.startsWith(WATCH_KEY_PREFIX));
    if (key === undefined) return [];
    this.stats.watched++;
    const f = sc.fields;
    const syscall = sc.interpreted.syscall;
    const success = f.success === 'yes';
    const info = this.containerOf(ev);
    if (info === undefined) this.stats.unattributed++;
    const container: AlertContainer | null | undefined = info ? containerOfInfo(info) : info;
    const base = new AlertBase(ev, container, f.uid, sc.interpreted.uid);
    const out: Alert[] = [];
    const raise = (kind: AlertKind, severity: AlertSeverity, reason: string, item?: string): void => {
      out.push(base.alert(kind, severity, reason, item));
      this.stats.alerts[kind] = (this.stats.alerts[kind] ?? 0) + 1;
    };
    const where = container ? `container ${container.name ?? container.id.slice(0, 12)} (${container.runtime})` : container === null ? 'the host' : 'an unknown container or the host';
    const who = `${f.comm ?? '?'} (pid ${f.pid ?? '?'}) in ${where}`;

    switch (key) {
      case WATCH_KEYS.exec: {
        const exe = f.exe ?? '';
        if (WRITABLE_DIRS.some((d) => exe.startsWith(d)) || exe.startsWith('/memfd:')) {
          raise('exec-from-writable-dir', 'high', `${who} ran ${exe}, a program in a directory anyone may write to (or in memory only)`, exe);
        }
        this.profile(ev, container, 'programs', exe, (item) => raise('new-program', 'medium', `${who} ran ${item}, which ${where} had never run`, item), raise);
        break;
      }
      case WATCH_KEYS.bind: {
        const a = ev.sockets.find((s) => (s.family === 'inet' || s.family === 'inet6') && s.port !== undefined && s.port > 0);
        if (a) {
          const item = `${a.family === 'inet' ? 'ipv4' : 'ipv6'} ${a.family === 'inet6' ? `[${a.addr}]` : a.addr}:${a.port}`;
          this.profile(ev, container, 'listening', item, (i) => raise('new-listening-port', 'medium', `${who} bound ${i}, a port ${where} had never bound`, i), raise);
        }
        break;
      }
      case WATCH_KEYS.connect: {
        const a = ev.sockets.find((s) => (s.family === 'inet' || s.family === 'inet6') && s.port !== undefined);
        if (a) {
          const item = `${a.family === 'inet6' ? `[${a.addr}]` : a.addr}:${a.port}`;
          this.profile(ev, container, 'destinations', item, (i) => raise('new-destination', 'low', `${who} connected to ${i}, where ${where} had never connected`, i), raise);
        }
        break;
      }
      case WATCH_KEYS.time: {
        const adjusted = ev.records.some((r) => CLOCK_ADJUSTED.includes(r.typeName));
        if (CLOCK_SETTERS.has(syscall) || adjusted) {
          const how = success ? 'set' : `tried to set (${syscall} failed: ${sc.interpreted.exit ?? f.exit})`;
          raise('clock-change', 'high', `${who} ${how} the system clock with ${syscall}; every container shares the host's clock`);
        }
        break;
      }
      case WATCH_KEYS.module:
        raise('kernel-module', success ? 'critical' : 'high', `${who} ${success ? '' : 'tried to '}${syscall === 'delete_module' ? 'unload' : 'load'} a kernel module (${syscall})`);
        break;
      case WATCH_KEYS.mount:
        raise('mount', container ? 'high' : 'medium', `${who} ${success ? 'called' : 'tried'} ${syscall}${pathText(ev)}`);
        break;
      case WATCH_KEYS.ptrace:
        raise('ptrace-attach', 'high', `${who} ${success ? 'attached to' : 'tried to attach to'} process ${hexToDecimal(f.a1)} with ptrace`);
        break;
      case WATCH_KEYS.namespace:
        // On the host, runtimes and systemd do this all day; from inside a container it is how one leaves it.
        if (container) raise('namespace-change', 'high', `${who} ${success ? 'called' : 'tried'} ${syscall}, a way out of its namespaces`);
        break;
      case WATCH_KEYS.dockerConfig:
        raise('docker-config-change', 'high', `${who} changed${pathText(ev)}, part of the container engine's configuration or binaries`);
        break;
      case WATCH_KEYS.dockerSocket:
        // The docker CLI on the host uses the socket all the time; a container that can reach it controls the host.
        if (container) raise('docker-socket-access', 'critical', `${who} opened the Docker API socket, which gives control of the host`);
        break;
    }
    // Every watched event says which user the container's process ran as.
    if (f.uid !== undefined) {
      const user = sc.interpreted.uid ?? f.uid;
      this.profile(ev, container, 'users', user, (u) => raise('new-user', 'medium', `${who} ran as user ${u}, which ${where} had never used`, u), raise);
    }
    return out;
  }

  /** Note `item` in the container's profile; `onNew` when it is new after learning. */
  private profile(
    ev: AuditEvent,
    container: AlertContainer | null | undefined,
    kind: ProfileKind,
    item: string,
    onNew: (item: string) => void,
    raise: (kind: AlertKind, severity: AlertSeverity, reason: string, item?: string) => void,
  ): void {
    if (container === undefined || item === '') return;
    const id = container === null ? HOST_ID : container.id;
    const p: Profile | undefined = this.profiles.see(id, container === null ? 'host' : container.runtime, container?.name, ev.time);
    if (p === undefined) return;
    switch (this.profiles.note(p, kind, item)) {
      case 'new':
        onNew(item);
        break;
      case 'full':
        raise('profile-full', 'low', `the ${kind} profile of ${container === null ? 'the host' : `container ${container.id.slice(0, 12)}`} is full; what it does beyond it is counted, not alerted`);
        break;
    }
  }
}

/** What every alert of one event shares. */
class AlertBase {
  constructor(
    private readonly ev: AuditEvent,
    private readonly container: AlertContainer | null | undefined,
    private readonly uid: string | undefined,
    private readonly user: string | undefined,
  ) {}

  alert(kind: AlertKind, severity: AlertSeverity, reason: string, item?: string): Alert {
    const uid = this.uid !== undefined && /^\d+$/.test(this.uid) ? Number(this.uid) : undefined;
    return {
      kind,
      severity,
      reason,
      time: new Date(this.ev.time).toISOString(),
      ...(this.container !== undefined && { container: this.container }),
      process: { ...processOf(this.ev), ...(uid !== undefined && { uid }), ...(this.user !== undefined && { user: this.user }) },
      ...(item !== undefined && { item }),
      event: this.ev,
    };
  }
}

function containerOfInfo(c: ContainerInfo): AlertContainer {
  return {
    id: c.id,
    runtime: c.runtime,
    ...(c.name !== undefined && { name: c.name }),
    ...(c.image !== undefined && { image: c.image }),
    ...(c.pod !== undefined && { pod: c.pod }),
    ...(c.namespace !== undefined && { namespace: c.namespace }),
  };
}

function pathText(ev: AuditEvent): string {
  const names = ev.paths.map((p) => p.name).filter((n): n is string => n !== undefined && n !== '(null)');
  return names.length > 0 ? ` ${names.join(', ')}` : '';
}

function hexToDecimal(hex: string | undefined): string {
  return hex !== undefined && /^[0-9a-f]+$/i.test(hex) ? String(parseInt(hex, 16)) : '?';
}
