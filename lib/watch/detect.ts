// From an event the watch's rules asked for to the alerts it raises: the
// always-alerts (each documented in docs/watch.md with what it reads and its
// false positives) and the new-against-the-profile ones.
import { RECORD_TYPES, SYSCALL } from '../constants/index.js';
import { parseSockaddr } from '../interpret/index.js';
import type { AuditEvent } from '../assemble/event.js';
import type { AuditRecord } from '../decode/record.js';
import type { ContainerInfo } from '../enrich/container.js';
import { processOf } from '../shape/json.js';
import type { Alert, AlertContainer, AlertKind, AlertSeverity } from './alert.js';
import { HOST_ID, Profiles, type Profile, type ProfileKind } from './profile.js';
import { WATCH_KEYS, WATCH_KEY_PREFIX } from './rules.js';
import { RuntimeSetup } from './setup.js';

/** Looked for in the SYSCALL record's text before anything is decoded: most of the stream is not ours. */
const KEY_MARK = ` key="${WATCH_KEY_PREFIX}`;

/** Directories anyone may write to: a program run from there was put there at run time. */
const WRITABLE_DIRS = ['/tmp/', '/var/tmp/', '/dev/shm/', '/run/shm/'];

const CLOCK_SETTERS = new Set(['settimeofday', 'clock_settime', 'stime']);
const SOCKADDR = RECORD_TYPES.SOCKADDR;
const SECCOMP = RECORD_TYPES.SECCOMP;
/** SECCOMP actions after which the call went on to the kernel (whose own record then tells of it). */
const SECCOMP_LOG = 0x7ffc0000;
const SECCOMP_ALLOW = 0x7fff0000;
/** The always-alerts a call refused by seccomp is an attempt at; only these are raised from SECCOMP records. */
const SECCOMP_KINDS = new Map<string, AlertKind>([
  ...['settimeofday', 'clock_settime', 'stime', 'adjtimex', 'clock_adjtime'].map((s) => [s, 'clock-change'] as const),
  ...['init_module', 'finit_module', 'delete_module'].map((s) => [s, 'kernel-module'] as const),
  ...['mount', 'umount2', 'umount', 'fsmount', 'move_mount'].map((s) => [s, 'mount'] as const),
  ...['ptrace'].map((s) => [s, 'ptrace-attach'] as const),
  ...['setns', 'unshare', 'pivot_root'].map((s) => [s, 'namespace-change'] as const),
]);
/** Addresses remembered per kind before the memo starts over. */
const ADDRESS_MEMO = 4096;
/** Records the kernel writes only when adjtimex/clock_adjtime changed something. */
const CLOCK_ADJUSTED = ['TIME_ADJNTPVAL', 'TIME_INJOFFSET'];

export interface DetectStats {
  /** Events the watch's rules matched. */
  watched: number;
  /** Watched events whose process (and parent) had gone before their container could be read. */
  unattributed: number;
  /** Mounts and namespace calls that were a runtime setting a container up, or an engine on the host: not alerted. */
  runtimeSetup: number;
  alerts: Partial<Record<AlertKind, number>>;
}

/** Which container an event is from (null: the host; undefined: cannot be told). */
export type ContainerOf = (ev: AuditEvent) => ContainerInfo | null | undefined;

export interface DetectOptions {
  /**
   * What a profile belongs to: each container ('container', the default), or
   * each image ('image': the replicas of a Deployment, and a container that
   * replaces one, share what was learned; a container whose image the engine
   * did not say has its own).
   */
  profileBy?: 'container' | 'image';
}

/** The profile key of an image: not a container id (hex) nor the host. */
const IMAGE_KEY = 'image:';

export class Detector {
  readonly profiles: Profiles;
  readonly stats: DetectStats = { watched: 0, unattributed: 0, runtimeSetup: 0, alerts: {} };
  private readonly setup = new RuntimeSetup();
  private readonly containerOf: ContainerOf;
  private readonly bindItems = new Map<string, string | undefined>();
  private readonly connectItems = new Map<string, string | undefined>();

  private readonly byImage: boolean;

  /** `containerOf` says which container an event is from (default: `event.container`, from its cgroup). */
  constructor(profiles: Profiles, containerOf?: ContainerOf, options: DetectOptions = {}) {
    this.profiles = profiles;
    this.containerOf = containerOf ?? ((ev) => ev.container);
    this.byImage = options.profileBy === 'image';
  }

  /** The profile an event of `info` learns into and is checked against, and how alerts name it. */
  private profileOf(info: ContainerInfo | null | undefined, time: number): { profile: Profile | undefined; label: string | undefined } {
    if (info === undefined) return { profile: undefined, label: undefined };
    if (info === null) return { profile: this.profiles.see(HOST_ID, 'host', undefined, time), label: undefined };
    if (this.byImage && info.image !== undefined) return { profile: this.profiles.see(IMAGE_KEY + info.image, info.runtime, info.image, time), label: `image ${info.image}` };
    return { profile: this.profiles.see(info.id, info.runtime, info.name, time), label: undefined };
  }

  /** The alerts an event raises; [] for events the watch did not ask for. */
  inspect(ev: AuditEvent): Alert[] {
    const sc = ev.record(SYSCALL);
    if (sc === undefined) return this.inspectSeccomp(ev);
    // Cheapest first: one substring search rejects everything else in the stream.
    if (!sc.text.includes(KEY_MARK)) return NONE;
    // The hot path (exec, bind, connect at the host's rate) reads raw fields,
    // and builds no reason, process or container copy unless it raises an
    // alert: interpreting a record names every id and number in it, and most
    // of these events raise nothing.
    const f = sc.fields;
    const key = ourKey(f.key);
    if (key === undefined) return NONE;
    this.stats.watched++;
    const info = this.containerOf(ev);
    if (info === undefined) this.stats.unattributed++;
    const inContainer = info === undefined ? undefined : info !== null;
    const success = f.success === 'yes';
    if (key === WATCH_KEYS.exec) {
      if (success && this.setup.noteExec(ev.pid ?? -1, ev.ppid, f.exe ?? '', inContainer, ev.time)) {
        // The runtime re-executing itself in the container: its setup, not a program of the container's.
        this.stats.runtimeSetup++;
        return NONE;
      }
    } else if ((key === WATCH_KEYS.mount || key === WATCH_KEYS.namespace) && this.setup.isSetup(ev.pid, ev.ppid, f.exe ?? '', inContainer, ev.time)) {
      // The runtime's work, not the container's: neither alerted nor learned.
      this.stats.runtimeSetup++;
      return NONE;
    }
    // One profile per event: learning counts events, not items.
    const { profile, label } = this.profileOf(info, ev.time);
    const a = new Alerts(this.stats, ev, sc, info, label);

    switch (key) {
      case WATCH_KEYS.exec: {
        const exe = f.exe ?? '';
        if (WRITABLE_DIRS.some((d) => exe.startsWith(d)) || exe.startsWith('/memfd:')) {
          a.raise('exec-from-writable-dir', 'high', `${a.who()} ran ${exe}, a program in a directory anyone may write to (or in memory only)`, exe);
        }
        if (this.isNew(a, profile, 'programs', exe)) a.raise('new-program', 'medium', `${a.who()} ran ${exe}, which ${a.profileWhere()} had never run`, exe);
        break;
      }
      case WATCH_KEYS.bind: {
        const item = this.addressItem(ev, true);
        if (item !== undefined && this.isNew(a, profile, 'listening', item)) a.raise('new-listening-port', 'medium', `${a.who()} bound ${item}, a port ${a.profileWhere()} had never bound`, item);
        break;
      }
      case WATCH_KEYS.connect: {
        const item = this.addressItem(ev, false);
        if (item !== undefined && this.isNew(a, profile, 'destinations', item)) a.raise('new-destination', 'low', `${a.who()} connected to ${item}, where ${a.profileWhere()} had never connected`, item);
        break;
      }
      case WATCH_KEYS.time: {
        const syscall = sc.interpreted.syscall;
        const adjusted = ev.records.some((r) => CLOCK_ADJUSTED.includes(r.typeName));
        if (CLOCK_SETTERS.has(syscall) || adjusted) {
          const how = success ? 'set' : `tried to set (${syscall} failed: ${sc.interpreted.exit ?? f.exit})`;
          a.raise('clock-change', 'high', `${a.who()} ${how} the system clock with ${syscall}; every container shares the host's clock`);
        }
        break;
      }
      case WATCH_KEYS.module: {
        const syscall = sc.interpreted.syscall;
        a.raise('kernel-module', success ? 'critical' : 'high', `${a.who()} ${success ? '' : 'tried to '}${syscall === 'delete_module' ? 'unload' : 'load'} a kernel module (${syscall})`);
        break;
      }
      case WATCH_KEYS.mount:
        a.raise('mount', info ? 'high' : 'medium', `${a.who()} ${success ? 'called' : 'tried'} ${sc.interpreted.syscall}${pathText(ev)}`);
        break;
      case WATCH_KEYS.ptrace:
        a.raise('ptrace-attach', 'high', `${a.who()} ${success ? 'attached to' : 'tried to attach to'} process ${hexToDecimal(f.a1)} with ptrace`);
        break;
      case WATCH_KEYS.namespace:
        // On the host, runtimes and systemd do this all day; from inside a container it is how one leaves it.
        if (info) a.raise('namespace-change', 'high', `${a.who()} ${success ? 'called' : 'tried'} ${sc.interpreted.syscall}, a way out of its namespaces`);
        break;
      case WATCH_KEYS.dockerConfig:
        a.raise('docker-config-change', 'high', `${a.who()} changed${pathText(ev)}, part of the container engine's configuration or binaries`);
        break;
      case WATCH_KEYS.dockerSocket:
        // The docker CLI on the host uses the socket all the time; a container that can reach it controls the host.
        if (info) a.raise('docker-socket-access', 'critical', `${a.who()} opened the Docker API socket, which gives control of the host`);
        break;
    }
    // Every watched event says which user the container's process ran as: by
    // number, since a container's /etc/passwd is not the host's.
    const uid = f.uid;
    if (uid !== undefined && this.isNew(a, profile, 'users', `uid ${uid}`)) {
      a.raise('new-user', 'medium', `${a.who()} ran as uid ${uid} (${sc.interpreted.uid} on the host), which ${a.profileWhere()} had never used`, `uid ${uid}`);
    }
    return a.list;
  }

  /**
   * A call the process's seccomp filter refused (or killed it for), which the
   * kernel reports in a SECCOMP record of its own when the filter asks for it
   * or the action kills: no syscall rule sees such a call, since seccomp
   * refuses it before the syscall is audited. See docs/watch.md, "What the
   * kernel does not show".
   */
  private inspectSeccomp(ev: AuditEvent): Alert[] {
    const r = ev.record(SECCOMP);
    if (r === undefined) return NONE;
    const code = Number.parseInt(r.fields.code ?? '', 16);
    const action = (code & 0xffff0000) >>> 0;
    if (!Number.isInteger(code) || action === SECCOMP_LOG || action === SECCOMP_ALLOW) return NONE;
    const syscall = r.interpreted.syscall ?? '';
    const kind = SECCOMP_KINDS.get(syscall);
    if (kind === undefined) return NONE;
    this.stats.watched++;
    const info = this.containerOf(ev);
    if (info === undefined) this.stats.unattributed++;
    // On the host, runtimes and systemd do these all day: only from inside a container.
    if (kind === 'namespace-change' && !info) return NONE;
    const a = new Alerts(this.stats, ev, r, info);
    const how = `${syscall}, which its seccomp filter refused (${r.interpreted.code ?? r.fields.code})`;
    a.raise(kind, kind === 'mount' && !info ? 'medium' : 'high', `${a.who()} tried ${how}`);
    return a.list;
  }

  /** Note `item` in the profile: whether it is new after learning. A profile that just filled says so, once. */
  private isNew(a: Alerts, p: Profile | undefined, kind: ProfileKind, item: string): boolean {
    if (p === undefined || item === '') return false;
    const verdict = this.profiles.note(p, kind, item);
    if (verdict === 'full') a.raise('profile-full', 'low', `the ${kind} profile of ${a.profileWhere()} is full; what it does beyond it is counted, not alerted`);
    return verdict === 'new';
  }

  /**
   * The profile item of the event's IPv4/IPv6 address: `ipv4 0.0.0.0:80` for
   * a bind (port 0, a kernel-chosen port, is none), `10.0.0.5:443` for a
   * connect. Servers bind and clients connect to the same few addresses over
   * and over: the answer is remembered by the raw sockaddr, so the hex is
   * parsed once per address, not once per event.
   */
  private addressItem(ev: AuditEvent, bind: boolean): string | undefined {
    const raw = ev.record(SOCKADDR)?.fields.saddr;
    if (raw === undefined) return undefined;
    const memo = bind ? this.bindItems : this.connectItems;
    let item = memo.get(raw);
    if (item === undefined && !memo.has(raw)) {
      const a = parseSockaddr(raw);
      const inet = a !== undefined && (a.family === 'inet' || a.family === 'inet6') && a.port !== undefined;
      const host = inet ? (a.family === 'inet6' ? `[${a.addr}]` : a.addr) : '';
      item = !inet ? undefined : bind ? (a.port! > 0 ? `${a.family === 'inet' ? 'ipv4' : 'ipv6'} ${host}:${a.port}` : undefined) : `${host}:${a.port}`;
      if (memo.size >= ADDRESS_MEMO) memo.clear();
      memo.set(raw, item);
    }
    return item;
  }
}

const NONE: Alert[] = [];

/** Our key among the record's keys (several are joined by \x01). */
function ourKey(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.startsWith(WATCH_KEY_PREFIX) && !raw.includes('\x01')) return raw;
  return raw.split('\x01').find((k) => k.startsWith(WATCH_KEY_PREFIX));
}

/** The alerts of one event, and the words and parts they share, made only when one is raised. */
class Alerts {
  list: Alert[] = NONE;
  private container: AlertContainer | null | undefined;

  constructor(
    private readonly stats: DetectStats,
    private readonly ev: AuditEvent,
    private readonly sc: AuditRecord,
    private readonly info: ContainerInfo | null | undefined,
    /** How the profile is named when it is not the container's own (an image's). */
    private readonly profileLabel?: string,
  ) {}

  profileWhere(): string {
    return this.profileLabel ?? this.where();
  }

  where(): string {
    const c = this.info;
    return c ? `container ${c.name ?? c.id.slice(0, 12)} (${c.runtime})` : c === null ? 'the host' : 'an unknown container or the host';
  }

  who(): string {
    const f = this.sc.fields;
    return `${f.comm ?? '?'} (pid ${f.pid ?? '?'}) in ${this.where()}`;
  }

  raise(kind: AlertKind, severity: AlertSeverity, reason: string, item?: string): void {
    if (this.list === NONE) {
      this.list = [];
      this.container = this.info ? containerOfInfo(this.info) : this.info;
    }
    const raw = this.sc.fields.uid;
    const uid = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
    const user = this.sc.interpreted.uid;
    this.list.push({
      kind,
      severity,
      reason,
      time: new Date(this.ev.time).toISOString(),
      ...(this.container !== undefined && { container: this.container }),
      process: { ...processOf(this.ev), ...(uid !== undefined && { uid }), ...(user !== undefined && { user }) },
      ...(item !== undefined && { item }),
      event: this.ev,
    });
    this.stats.alerts[kind] = (this.stats.alerts[kind] ?? 0) + 1;
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
