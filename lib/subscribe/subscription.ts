// subscribe(): the kernel's audit stream as an AsyncIterable of events, with
// bounded memory, counted loss, and every kernel setting it changed restored.
import { MSG, RECORD_TYPE_CLASS, STATUS_MASK, SYSCALL, recordTypeNumber } from '../constants/index.js';
import { interpretValue } from '../interpret/index.js';
import { AuditError } from '../errors.js';
import { AuditClient } from '../client/client.js';
import { encodeStatus, type AuditStatus } from '../client/status.js';
import { AuditChannel } from '../transport/channel.js';
import { addon, type NativeSocketStats } from '../native/index.js';
import { useSystemNames } from '../identity/files.js';
import { SystemNames } from '../identity/system.js';
import { parseRuleLine, RuleSyntaxError } from '../rules/parse.js';
import type { AuditRule } from '../rules/rule.js';
import { encodeRuleForDelete } from '../client/rules.js';
import { formatRule } from '../rules/format.js';
import { presetRules, type PresetName } from '../rules/presets.js';
import { execSyscalls } from '../rules/tables.js';
import { pidAlive, processName } from '../proc/index.js';
import { CGROUP_GONE, CGROUP_RUNTIME_PARENT, ContainerResolver } from '../enrich/container.js';
import { ContainerdClient } from '../enrich/containerd.js';
import { ProcessTable } from '../enrich/process.js';
import { RuntimeClient } from '../enrich/runtime.js';
import type { Enrichment } from '../assemble/event.js';
import { EVENT_WORDS, EventBatch } from '../assemble/batch.js';
import type { AuditEvent } from '../assemble/event.js';
import { ChangeJournal, recoverOrphans, removeHandover, type Adopted, type Recovery } from '../journal/journal.js';

export type SubscribeMode = 'auto' | 'unicast' | 'multicast';

export interface SubscribeOptions {
  /**
   * 'unicast': register as the audit daemon (exclusive; receives every record,
   * and the kernel waits for us rather than lose). 'multicast': read-only
   * listener beside auditd or journald (best effort). 'auto' (default):
   * unicast when no live daemon is registered, else multicast.
   */
  mode?: SubscribeMode;
  /** Aborting ends the iteration (after the events already queued) and closes. */
  signal?: AbortSignal;
  /** Turn auditing on for the subscription's life if it is off (restored on close). Default false. */
  enable?: boolean;
  /** Unicast: raise the kernel's backlog_limit to at least this for our life. Default 8192. */
  backlogLimit?: number;
  /**
   * What gives when the consumer is slower than the kernel for longer than the
   * buffers last. 'drop' (default): keep reading and discard, counted in
   * stats().dropped; audited processes never wait for us. 'kernel': stop
   * reading, so the kernel's backlog fills and its own policy acts (tasks wait
   * up to backlog_wait_time, then the kernel loses, counted in kernelLost).
   */
  overflow?: 'drop' | 'kernel';
  /** Received bytes held for JS before the overflow policy acts. Default 64 MiB. */
  bufferBytes?: number;
  /** Socket receive buffer. Default 8 MiB (forced past rmem_max when root). */
  receiveBufferBytes?: number;
  /** Events waiting for the consumer before we stop taking from the buffer. Default 1000. */
  queueLimit?: number;
  /** Events waiting for more records; beyond it the oldest goes out incomplete. Default 1000. */
  maxInFlight?: number;
  /** An event waiting longer for its end goes out incomplete. Default 2000 ms. */
  eventTimeoutMs?: number;
  /**
   * Deliver only events with one of these rule keys (`-k`). Applied by the
   * native reader before JavaScript sees an event; the rest are counted in
   * stats().filtered.
   */
  keys?: string[];
  /** Deliver only events with a record of one of these types (names or numbers), applied the same way. */
  types?: Array<string | number>;
  /**
   * Most time a complete event waits to be handed over together with others
   * (fewer wake-ups of the reader and of JavaScript at moderate rates).
   * Default 5 ms; 0 hands each burst over at once.
   */
  latencyMs?: number;
  /** How often the kernel's lost counter is polled for stats(). Default 1000 ms. */
  statsIntervalMs?: number;
  /**
   * Rules (auditctl syntax) to install for the subscription's life; removed on
   * close, exactly those (a rule the kernel already had is left alone). With
   * any rule, a first rule excludes this process, so it never audits itself.
   */
  rules?: string[];
  /** Named rule sets to install the same way: docker, time-change, network, identity, privilege, modules. */
  presets?: PresetName[];
  /**
   * Undo, before starting, what subscribers that died without closing left in
   * the kernel (their journals in /run/linux-audit/journal); see
   * `Subscription.recovered`. Default true.
   */
  recover?: boolean;
  /**
   * A planned restart with no window without rules: at close, leave the
   * rules, `enabled` and the backlog limit this subscription set as they are
   * (only the daemon registration is given up; the kernel holds records in
   * its backlog meanwhile), journaled under this name; and at start, adopt
   * what a closed subscription left under the same name, as its own changes
   * to undo at its own close. A start under another name, or none, undoes
   * them as it undoes a crash's. E.g. `forward /etc/linux-audit/config.json`.
   */
  handover?: string;
  /** Where /proc is, for `event.container` (read by the reader thread) and `event.ancestry` (a host's /proc seen from a container: /host/proc). Default /proc. */
  procRoot?: string;
  /**
   * Engine API sockets (Docker's, podman's) to ask for container names, images
   * and pods; false to ask none. Default: /var/run/docker.sock and
   * /run/podman/podman.sock, where they exist.
   */
  runtimeSockets?: string[] | false;
  /**
   * containerd sockets to ask for names, images and Kubernetes pods, and
   * whose event stream names the processes it starts (a `kubectl exec`'s
   * program is placed by it when it exits too soon to be read); false to ask
   * none. Default: /run/containerd/containerd.sock and Docker's managed
   * containerd, where they exist.
   */
  containerdSockets?: string[] | false;
  /**
   * Where containerd runs, an event whose process (and parent) had gone
   * before the reader could read them waits up to this long for containerd's
   * report of the process it started (a `docker exec` or `kubectl exec`
   * program), and the events after it wait behind it, so that it is placed
   * rather than unknown. 0: never wait. Default 250 ms.
   */
  containerWaitMs?: number;
  /**
   * Whether the reader thread reads each event's container (its process's
   * cgroup, as the first record naming the process arrives). false: no
   * event has a container (`container` is undefined and not counted as
   * unknown), and no /proc read is made. Default true.
   */
  containers?: boolean;
  /** Parents listed in `event.ancestry`. Default 5. */
  ancestryDepth?: number;
  /**
   * Learn processes from the stream's own execve and fork events, so a
   * short-lived process can still be named as a parent after it is gone.
   * Costs decoding every SYSCALL record. Default false (parents from /proc).
   */
  trackProcesses?: boolean;
}

/** What the subscription did with the rules it was given. */
export interface SubscriptionRules {
  /** Installed by us, removed on close (auditctl -l text). */
  installed: string[];
  /** Already in the kernel: used, and left there on close. */
  present: string[];
  /** Preset lines left out on this host, and why. */
  skipped: Array<{ rule: string; reason: string }>;
}

export interface SubscriptionStats {
  /** How events were received (kept after close, for the last health line). */
  mode: 'unicast' | 'multicast' | undefined;
  /** True while events are being received: from ready until close or failure. */
  receiving: boolean;
  /** Records received (EOE included). */
  records: number;
  /** Events handed to the consumer's queue. */
  events: number;
  /** Events the `keys` and `types` filters left out (not loss: asked for). */
  filtered: number;
  /** Bytes received, netlink headers included. */
  bytes: number;
  /** Records that could not be read as the kernel writes them (delivered, marked). */
  malformed: number;
  /** Events the kernel lost since we started (its `lost` counter, polled). */
  kernelLost: number;
  /**
   * Whether kernelLost and kernelBacklog are real: false for a multicast
   * listener without CAP_AUDIT_CONTROL, which may not read the kernel's status.
   */
  kernelCounters: boolean;
  /**
   * Times the socket buffer overflowed (ENOBUFS): each time the kernel could
   * not hand us one or more records. It counts occurrences, not records (the
   * kernel does not say how many); kernelLost counts the records it dropped
   * in its own queue.
   */
  socketOverruns: number;
  /** Records we read and discarded because the consumer fell behind (overflow: 'drop'). */
  dropped: number;
  /** Datagrams not from the kernel, discarded. */
  spoofed: number;
  /** Records longer than a receive slot (delivered truncated and marked malformed). */
  truncated: number;
  /** Events queued after close() that the consumer did not read. */
  undelivered: number;
  /** Events handed out before their end record arrived. */
  incomplete: number;
  /** Records left out of events larger than the per-event bound (8192 records, 8 MiB). */
  recordsCut: number;
  /**
   * Events whose container cannot be told (ev.container undefined): the
   * process had exited when its event was read, and its parent had too, or
   * was a container runtime's process on the host (runc, a shim: what
   * `docker exec` runs through).
   */
  containerUnknown: number;
  /** Files under /proc the reader thread read to place events in containers (what `containers: false` saves). */
  cgroupReads: number;
  /** Serial numbers skipped between events: informative, not loss. */
  serialGaps: number;
  /** Events waiting for the consumer now. */
  queueDepth: number;
  /** Events waiting for more records now. */
  inFlight: number;
  /** Received bytes waiting in the native buffer now, and the most there has been. */
  pendingBytes: number;
  peakPendingBytes: number;
  /** The kernel's backlog (records queued for the daemon) at the last poll. */
  kernelBacklog: number;
}

interface Changes {
  registered: boolean;
  enabled?: number;
  backlogLimit?: number;
  /** Rules we added, in order. */
  rules: AuditRule[];
}

/**
 * Rule lines and presets, parsed before anything touches the kernel; with a
 * first rule that keeps this process from auditing itself.
 */
function parseWantedRules(rules: string[], presets: PresetName[]): { rules: AuditRule[]; skipped: SubscriptionRules['skipped'] } {
  const lines = [...rules];
  const skipped: SubscriptionRules['skipped'] = [];
  for (const name of presets) {
    const p = presetRules(name);
    lines.push(...p.rules);
    skipped.push(...p.skipped);
  }
  if (lines.length === 0) return { rules: [], skipped };
  // First, so it decides before any other rule: this process never audits itself.
  lines.unshift(`-A never,exit -F pid=${process.pid}`);
  const parsed = lines.map((line, i) => {
    const c = parseRuleLine(line, { file: 'subscribe rules', line: i });
    if (!c || c.kind !== 'add') throw new RuleSyntaxError(`expected a rule to add (-a, -A or -w); got "${line}"`, 1, { file: 'subscribe rules', line: i });
    return c.rule;
  });
  return { rules: parsed, skipped };
}

/** A rule as kept in journals and lists: auditctl's syntax, escaped so it parses back (a watched path with a space). */
const ruleText = (rule: AuditRule): string => formatRule(rule, { parseable: true });

const TICK_MS = 250;
const EXEC_SYSCALLS = execSyscalls().flat();
/** Events handed over on microtasks alone before one goes through the event loop. */
const YIELD_EVERY = 256;
/** Batches held for containerd at most; past it the oldest goes on, placed or not. */
const MAX_HELD = 64;
/** How often held batches are looked at again. */
const HOLD_POLL_MS = 10;

export class Subscription implements AsyncIterable<AuditEvent>, AsyncDisposable {
  /** Settles when the subscription is receiving (or has failed to start). */
  readonly ready: Promise<void>;
  /** The rules given in the options, once ready. */
  readonly rules: SubscriptionRules = { installed: [], present: [], skipped: [] };
  /**
   * What this start undid of changes left by subscribers that died without
   * closing (SIGKILL, OOM), from their journals; empty almost always. Each
   * item's `message` is the line to show an operator.
   */
  readonly recovered: Recovery[] = [];
  private readonly options: SubscribeOptions;
  private readonly queueLimit: number;
  private readonly enrichment: Enrichment;
  private client: AuditClient | undefined;
  private channel: AuditChannel | undefined;
  private mode: 'unicast' | 'multicast' | undefined;
  private changes: Changes = { registered: false, rules: [] };
  /** Each change written down before it is made, for the next start if we are killed. */
  private readonly journal = new ChangeJournal();
  /** Rules a previous run left for us (handover), not yet claimed by ours. */
  private readonly handedOver = new Set<string>();
  private readonly adoptedFiles: string[] = [];
  // Batches waiting for the consumer, and its place in the first one.
  private readonly queue: EventBatch[] = [];
  private head = 0;
  private eventAt = 0;
  private queued = 0;
  private inARow = 0;
  private iteration: 'events' | 'batches' | undefined;
  private waiter: { resolve: (r: IteratorResult<AuditEvent>) => void; reject: (e: unknown) => void } | undefined;
  private batchWaiter: { resolve: (r: IteratorResult<EventBatch>) => void; reject: (e: unknown) => void } | undefined;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  /** Set once close() has finished, restoring the kernel or failing to; the iteration ends only then. */
  private closed = false;
  private closeError: Error | undefined;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  private now = Date.now();
  private lastPoll = 0;
  private polling = false;
  private lastLost = 0;
  private kernelLost = 0;
  private lastStatus: AuditStatus | undefined;
  private undelivered = 0;
  private containerUnknown = 0;
  /** Batches waiting (in order) for containerd to report a process the reader could not place. */
  private readonly held: Array<{ batch: EventBatch; index: Uint32Array; until: number }> = [];
  private holdTimer: NodeJS.Timeout | undefined;
  /** The native counters as they were at close, when the socket is gone. */
  private finalNative: NativeSocketStats | undefined;
  private readonly exitHook = (): void => this.restoreAtExit();
  // A failed restore reaches the consumer through the iterator, never as an unhandled rejection.
  private readonly abortHook = (): void => void this.close().catch(() => undefined);

  constructor(options: SubscribeOptions = {}) {
    this.options = options;
    this.queueLimit = Math.max(1, options.queueLimit ?? 1000);
    // Users and groups the files do not name (sssd, LDAP) are asked of the system, off the JS thread.
    useSystemNames(new SystemNames((kind, id, callback) => addon.lookupIdentity(kind, id, callback)));
    this.enrichment = {
      containers: new ContainerResolver({
        runtime: options.runtimeSockets === false ? undefined : new RuntimeClient({ sockets: options.runtimeSockets }),
        containerd: options.containerdSockets === false ? undefined : new ContainerdClient({ sockets: options.containerdSockets }),
      }),
      processes: new ProcessTable({ procRoot: options.procRoot }),
      ancestryDepth: options.ancestryDepth ?? 5,
    };
    if (options.signal?.aborted) {
      this.enrichment.containers.close();
      this.ended = true;
      this.closed = true;
      this.ready = Promise.resolve();
      return;
    }
    options.signal?.addEventListener('abort', this.abortHook, { once: true });
    this.ready = this.start();
    this.ready.catch((e: unknown) => this.fail(e as Error));
  }

  [Symbol.asyncIterator](): AsyncIterator<AuditEvent> {
    this.iterate('events');
    return {
      next: () => this.next(),
      return: async () => {
        await this.close();
        this.discardQueue();
        return { done: true, value: undefined };
      },
      throw: async (e: unknown) => {
        await this.close();
        this.discardQueue();
        throw e;
      },
    };
  }

  /**
   * The stream as batches of events, as the reader hands them over: for a
   * consumer that wants the last factor of speed (one iterator step per batch,
   * not per event). Events are views of their batch. Use either this or the
   * per-event iteration of the subscription, not both.
   */
  batches(): AsyncIterable<EventBatch> {
    this.iterate('batches');
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => this.nextBatch(),
        return: async () => {
          await this.close();
          this.discardQueue();
          return { done: true, value: undefined };
        },
        throw: async (e: unknown) => {
          await this.close();
          this.discardQueue();
          throw e;
        },
      }),
    };
  }

  private iterate(how: 'events' | 'batches'): void {
    if (this.iteration !== undefined && this.iteration !== how) {
      throw new AuditError(`this subscription is already read ${this.iteration === 'events' ? 'event by event' : 'by batches()'}; read it one way`, 'ERR_INVALID_STATE');
    }
    this.iteration = how;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
    this.discardQueue();
  }

  /** @internal The container lookups the events use: the watch waits on them for an alert's names. */
  get containers(): ContainerResolver {
    return this.enrichment.containers;
  }

  stats(): SubscriptionStats {
    const n = this.channel?.nativeStats() ?? this.finalNative;
    return {
      mode: this.mode,
      receiving: this.mode !== undefined && this.channel !== undefined && !this.ended,
      records: n?.records ?? 0,
      events: n?.events ?? 0,
      filtered: n?.filtered ?? 0,
      bytes: n?.bytes ?? 0,
      malformed: n?.malformed ?? 0,
      kernelLost: this.kernelLost,
      kernelCounters: this.lastStatus !== undefined,
      socketOverruns: n?.overruns ?? 0,
      dropped: n?.dropped ?? 0,
      spoofed: n?.spoofed ?? 0,
      truncated: n?.truncated ?? 0,
      undelivered: this.undelivered,
      incomplete: n?.incomplete ?? 0,
      recordsCut: n?.recordsCut ?? 0,
      containerUnknown: this.containerUnknown,
      cgroupReads: n?.cgroupReads ?? 0,
      serialGaps: n?.serialGaps ?? 0,
      queueDepth: this.queued,
      inFlight: n?.inFlight ?? 0,
      pendingBytes: this.channel ? (n?.pendingBytes ?? 0) : 0,
      peakPendingBytes: n?.peakPendingBytes ?? 0,
      kernelBacklog: this.lastStatus?.backlog ?? 0,
    };
  }

  /**
   * Stop receiving, restore the kernel settings we changed, and end the
   * iteration once the events already queued are read. Idempotent.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async start(): Promise<void> {
    const o = this.options;
    const { rules: wanted, skipped } = parseWantedRules(this.options.rules ?? [], this.options.presets ?? []);
    this.rules.skipped.push(...skipped);
    const client = (this.client = await AuditClient.open());
    let status: AuditStatus;
    try {
      status = await client.getStatus();
    } catch (e) {
      // A read-only listener may hold CAP_AUDIT_READ alone, which does not allow
      // AUDIT_GET: it listens all the same, without the kernel's counters.
      if (o.mode !== 'multicast' || (e as AuditError).code !== 'EPERM') throw e;
      client.close();
      this.client = undefined;
      this.openChannel(true);
      this.mode = 'multicast';
      this.startTimer();
      return;
    }
    if (o.recover !== false) {
      const { recovered, adopted } = await recoverOrphans(client, o.handover);
      if (recovered.length > 0) {
        this.recovered.push(...recovered);
        status = await client.getStatus();
      }
      this.adopt(adopted);
    }
    this.lastStatus = status;
    this.lastLost = status.lost;
    let mode: 'unicast' | 'multicast' = o.mode === 'multicast' ? 'multicast' : 'unicast';
    if (o.mode === undefined || o.mode === 'auto') {
      mode = status.pid !== 0 && status.pid !== process.pid && pidAlive(status.pid) ? 'multicast' : 'unicast';
    }
    if (this.closing) return;
    process.once('exit', this.exitHook);
    if (mode === 'unicast') {
      const registered = await this.openUnicast(status);
      if (!registered) mode = 'multicast';
    }
    if (mode === 'multicast') this.openChannel(true);
    this.mode = mode;
    if (this.closing) return;

    if (mode === 'unicast') {
      const want = o.backlogLimit ?? 8192;
      if (status.enabled !== 2 && status.backlogLimit < want) {
        this.journal.entry.backlogLimit = { before: status.backlogLimit, set: want };
        this.journal.save();
        await client.setBacklogLimit(want);
        this.changes.backlogLimit = status.backlogLimit;
        this.updateFarewell();
      }
    }
    if (o.enable && status.enabled === 0) {
      this.journal.entry.enabled = { before: 0, set: 1 };
      this.journal.save();
      await client.setEnabled(1);
      this.changes.enabled = 0;
      this.updateFarewell();
    }
    if (wanted.length > 0) await this.installRules(client, wanted);
    await this.settleHandover(client);
    this.startTimer();
  }

  /**
   * Take a handover's changes as ours: its settings' "before" values are what
   * our close puts back, its rules ours once our rules ask for them (those we
   * do not want are deleted after ours are in). Its journal goes once ours
   * holds them.
   */
  private adopt(adopted: Adopted[]): void {
    for (const a of adopted) {
      if (a.enabled && this.changes.enabled === undefined) {
        this.changes.enabled = a.enabled.before;
        this.journal.entry.enabled = a.enabled;
      }
      if (a.backlogLimit && this.changes.backlogLimit === undefined) {
        this.changes.backlogLimit = a.backlogLimit.before;
        this.journal.entry.backlogLimit = a.backlogLimit;
      }
      for (const r of a.rules) this.handedOver.add(r);
      this.adoptedFiles.push(a.file);
      this.recovered.push({
        pid: a.pid,
        command: a.command,
        undone: [],
        failed: [],
        message: `took over from pid ${a.pid}${a.command ? ` (${a.command})` : ''}, which left ${a.rules.length} rule${a.rules.length === 1 ? '' : 's'}${a.enabled ? ' and auditing on' : ''} in place for this restart`,
      });
    }
    if (adopted.length > 0) this.journal.save();
  }

  /** After our rules are in: delete the handed-over rules we do not want, and the handover's journals. */
  private async settleHandover(client: AuditClient): Promise<void> {
    for (const text of this.handedOver) {
      const c = parseRuleLine(text, { file: 'handover', line: 1 });
      if (c?.kind !== 'add') continue;
      try {
        await client.deleteRule(c.rule);
      } catch {
        // already gone
      }
    }
    this.handedOver.clear();
    for (const f of this.adoptedFiles.splice(0)) removeHandover(f);
    this.updateFarewell();
  }

  /**
   * Replace the rules this subscription installed with these, with no moment
   * without rules: the new ones are added first, then those no longer wanted
   * deleted (each change journaled, as at the start). Lines are parsed before
   * the kernel is touched, so a mistake (RuleSyntaxError) changes nothing.
   * Rules that were already in the kernel before us stay untouched.
   */
  async updateRules(rules: string[], presets: PresetName[] = []): Promise<{ added: string[]; removed: string[] }> {
    await this.ready;
    const client = this.client;
    if (!client || this.ended) throw new AuditError('updateRules: the subscription is closed', 'ERR_AUDIT_CLOSED');
    const { rules: wanted, skipped } = parseWantedRules(rules, presets);
    const wantedText = new Set(wanted.map((r) => ruleText(r)));
    const ours = new Map(this.changes.rules.map((r) => [ruleText(r), r]));
    const toAdd = wanted.filter((r) => !ours.has(ruleText(r)) && !this.rules.present.includes(formatRule(r)));
    const added = toAdd.map((r) => formatRule(r));
    await this.installRules(client, toAdd);
    const removed: string[] = [];
    try {
      for (const [text, rule] of ours) {
        if (wantedText.has(text)) continue;
        await client.deleteRule(rule);
        this.changes.rules.splice(this.changes.rules.indexOf(rule), 1);
        const j = this.journal.entry.rules;
        j.splice(j.indexOf(text), 1);
        this.journal.save();
        const shown = formatRule(rule);
        this.rules.installed.splice(this.rules.installed.indexOf(shown), 1);
        removed.push(shown);
      }
    } finally {
      this.updateFarewell();
    }
    this.rules.skipped.splice(0, this.rules.skipped.length, ...skipped);
    return { added: added.filter((t) => this.rules.installed.includes(t)), removed };
  }

  private async installRules(client: AuditClient, wanted: AuditRule[]): Promise<void> {
    const journaled = this.journal.entry.rules;
    try {
      for (const rule of wanted) {
        // Journals keep the form that parses back; the lists show auditctl -l's.
        const text = ruleText(rule);
        const shown = formatRule(rule);
        journaled.push(text);
        this.journal.save();
        try {
          await client.addRule(rule);
          this.changes.rules.push(rule);
          this.rules.installed.push(shown);
        } catch (e) {
          if ((e as AuditError).code === 'EEXIST' && this.handedOver.delete(text)) {
            // Left in place for us by the previous run: ours now, journaled as ours.
            this.changes.rules.push(rule);
            this.rules.installed.push(shown);
            continue;
          }
          // Not ours to delete, now or after a crash.
          journaled.pop();
          this.journal.save();
          if ((e as AuditError).code !== 'EEXIST') throw e;
          this.rules.present.push(shown);
        }
      }
    } finally {
      // Once for the lot: the farewell is every undo request, re-encoded each time.
      this.updateFarewell();
    }
  }

  private startTimer(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  private openChannel(multicast: boolean): AuditChannel {
    const o = this.options;
    let types: Uint8Array | undefined;
    if (o.types !== undefined && o.types.length > 0) {
      types = new Uint8Array(65536);
      for (const t of o.types) types[typeof t === 'number' ? t : recordTypeNumber(t)] = 1;
    }
    const channel = new AuditChannel({
      multicast,
      bufferBytes: o.bufferBytes ?? 64 << 20,
      dropOnOverflow: (o.overflow ?? 'drop') === 'drop',
      // At a few thousand events/s JS is woken once per latencyMs, and each
      // wake-up, with the few events it brought, cost its thread about 75 µs
      // of CPU on the test VM (the exec storm at 2 ms: 0.17 wake-ups and
      // 12.8 CPU µs per event, of 67.5 in all).
      latencyMs: o.latencyMs ?? 5,
      assemble: {
        maxInFlight: o.maxInFlight ?? 1000,
        timeoutMs: o.eventTimeoutMs ?? 2000,
        typeClass: RECORD_TYPE_CLASS,
        keys: o.keys !== undefined && o.keys.length > 0 ? o.keys : undefined,
        types,
        cgroups: o.containers ?? true,
        procRoot: o.procRoot ?? '/proc',
        execSyscalls: EXEC_SYSCALLS,
      },
    });
    channel.setReceiveBuffer(o.receiveBufferBytes ?? 8 << 20);
    channel.start(
      (data, index) => this.onBatch(data, index),
      (e) => this.fail(e),
    );
    this.channel = channel;
    return channel;
  }

  /** Register our event socket as the audit daemon. False when 'auto' should fall back to multicast. */
  private async openUnicast(status: AuditStatus): Promise<boolean> {
    const channel = this.openChannel(false);
    try {
      await channel.request(MSG.SET, encodeStatus(STATUS_MASK.PID, { pid: process.pid }));
      this.changes.registered = true;
      this.updateFarewell();
      return true;
    } catch (e) {
      channel.close();
      this.channel = undefined;
      const err = e as AuditError;
      if (err.code === 'EEXIST') {
        if (this.options.mode === undefined || this.options.mode === 'auto') return false;
        const current = await this.client!.getStatus().catch(() => status);
        const pid = current.pid;
        throw new AuditError(
          `another audit daemon is registered: pid ${pid} (${pid === process.pid ? 'this process: another unicast subscription' : processName(pid) ?? 'unknown'}); ` +
            'only one process may receive the audit stream as the daemon. Stop it, or subscribe with mode "multicast" (read-only, beside it) or "auto"',
          'EEXIST',
          err.errno,
          'AUDIT_SET',
          { cause: e },
        );
      }
      throw e;
    }
  }

  private onBatch(data: Buffer, index: Uint32Array): void {
    const batch = new EventBatch(data, index, this.enrichment);
    if (batch.length === 0) return;
    // Order is kept: once one batch waits for containerd, the ones after it wait behind it.
    if (this.held.length > 0 || ((this.options.containerWaitMs ?? 250) > 0 && this.awaitsRuntime(batch, index))) {
      this.held.push({ batch, index, until: Date.now() + (this.options.containerWaitMs ?? 250) });
      this.releaseHeld(false);
      return;
    }
    this.deliver(batch, index);
  }

  /** Whether an event of the batch may yet be placed by containerd's report (ContainerResolver.awaitsRuntime). */
  private awaitsRuntime(batch: EventBatch, index: Uint32Array): boolean {
    for (let i = 0; i < batch.length; i++) {
      const at = 2 + i * EVENT_WORDS;
      const source = index[at + 12];
      if (source !== CGROUP_GONE && source !== CGROUP_RUNTIME_PARENT) continue;
      if (this.enrichment.containers.awaitsRuntime(batch.cgroupAt(at).text, source, batch.numberAt(at, 8), index[at + 3] * 1000 + index[at + 4])) return true;
    }
    return false;
  }

  /** Hand on held batches, in order, once containerd has placed their events or their wait is over (all of them when `all`). */
  private releaseHeld(all: boolean): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const now = Date.now();
    while (this.held.length > 0) {
      const h = this.held[0];
      if (!all && this.held.length <= MAX_HELD && now < h.until && this.awaitsRuntime(h.batch, h.index)) break;
      this.held.shift();
      this.deliver(h.batch, h.index);
    }
    if (this.held.length > 0) this.holdTimer = setTimeout(() => this.releaseHeld(false), HOLD_POLL_MS);
  }

  private deliver(batch: EventBatch, index: Uint32Array): void {
    // Events whose process was gone before it could be read may be unknown;
    // told now, so that every unknown is counted, read or not.
    for (let i = 0; i < batch.length; i++) {
      const at = 2 + i * EVENT_WORDS;
      const source = index[at + 12];
      if (source !== CGROUP_GONE && source !== CGROUP_RUNTIME_PARENT) continue;
      if (this.enrichment.containers.resolve(batch.cgroupAt(at).text, source, batch.numberAt(at, 8), index[at + 3] * 1000 + index[at + 4]) === undefined) this.containerUnknown++;
    }
    if (this.options.trackProcesses) for (const ev of batch) this.learnProcess(ev);
    this.queue.push(batch);
    this.queued += batch.length;
    if (this.batchWaiter) {
      const w = this.batchWaiter;
      this.batchWaiter = undefined;
      w.resolve({ value: this.takeBatch()!, done: false });
    } else if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: this.takeEvent()!, done: false });
    }
    if (this.queued >= this.queueLimit) this.channel?.pause();
  }

  private tick(): void {
    this.now = Date.now();
    const interval = this.options.statsIntervalMs ?? 1000;
    if (!this.polling && this.client && this.now - this.lastPoll >= interval) {
      this.polling = true;
      this.lastPoll = this.now;
      this.client
        .getStatus()
        .then((s) => this.noteStatus(s))
        .catch(() => undefined) // a failed poll keeps the last numbers; the next tick tries again
        .finally(() => (this.polling = false));
    }
  }

  /** Accumulate the kernel's lost counter, which someone may reset (auditctl --reset-lost) meanwhile. */
  private noteStatus(s: AuditStatus): void {
    this.kernelLost += s.lost >= this.lastLost ? s.lost - this.lastLost : s.lost;
    this.lastLost = s.lost;
    this.lastStatus = s;
  }

  /** Teach the process table what this event shows: a successful exec or fork. */
  private learnProcess(event: AuditEvent): void {
    const sc = event.syscall;
    if (!sc || sc.success !== 'yes') return;
    const name = interpretValue(SYSCALL, 'syscall', sc.syscall, { arch: sc.arch });
    const pid = Number(sc.pid);
    if (name === 'execve' || name === 'execveat') {
      this.enrichment.processes.exec(pid, Number(sc.ppid), sc.exe, sc.comm, event.argv);
    } else if (name === 'clone' || name === 'clone3' || name === 'fork' || name === 'vfork') {
      const child = Number(sc.exit);
      if (child > 0) this.enrichment.processes.fork(pid, child);
    }
  }

  /** The next queued event, or undefined. */
  private takeEvent(): AuditEvent | undefined {
    while (this.head < this.queue.length) {
      const batch = this.queue[this.head];
      if (this.eventAt < batch.length) {
        this.queued--;
        return batch.event(this.eventAt++);
      }
      this.queue[this.head++] = undefined as unknown as EventBatch; // let the batch go
      this.eventAt = 0;
      this.compactQueue();
    }
    return undefined;
  }

  /** The next queued batch, or undefined. */
  private takeBatch(): EventBatch | undefined {
    if (this.head >= this.queue.length) return undefined;
    const batch = this.queue[this.head];
    this.queue[this.head++] = undefined as unknown as EventBatch;
    this.queued -= batch.length;
    this.compactQueue();
    return batch;
  }

  private compactQueue(): void {
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private next(): Promise<IteratorResult<AuditEvent>> {
    const event = this.takeEvent();
    if (event !== undefined) {
      if (this.queued < this.queueLimit / 2) this.channel?.resume();
      // A for-await over resolved promises runs on microtasks alone and would
      // starve the host's timers and I/O (and our own batches) while a backlog
      // lasts: every so often, hand the event over through the event loop.
      if (++this.inARow >= YIELD_EVERY) {
        this.inARow = 0;
        return new Promise((resolve) => setImmediate(() => resolve({ value: event, done: false })));
      }
      return Promise.resolve({ value: event, done: false });
    }
    this.inARow = 0;
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return this.closeError ? Promise.reject(this.closeError) : Promise.resolve({ value: undefined, done: true });
    this.channel?.resume();
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  private nextBatch(): Promise<IteratorResult<EventBatch>> {
    const batch = this.takeBatch();
    if (batch !== undefined) {
      if (this.queued < this.queueLimit / 2) this.channel?.resume();
      // One batch per turn of the event loop: see next().
      return new Promise((resolve) => setImmediate(() => resolve({ value: batch, done: false })));
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return this.closeError ? Promise.reject(this.closeError) : Promise.resolve({ value: undefined, done: true });
    this.channel?.resume();
    return new Promise((resolve, reject) => (this.batchWaiter = { resolve, reject }));
  }

  private fail(e: Error): void {
    if (this.failure || this.ended) return;
    this.failure = e;
    // The failure is what the consumer hears of; a failed restore after it too, through close().
    void this.close().catch(() => undefined);
    for (const w of [this.waiter, this.batchWaiter]) w?.reject(e);
    this.waiter = undefined;
    this.batchWaiter = undefined;
  }

  private discardQueue(): void {
    this.undelivered += this.queued;
    this.queued = 0;
    this.queue.length = 0;
    this.head = 0;
    this.eventAt = 0;
  }

  private async shutdown(): Promise<void> {
    this.options.signal?.removeEventListener('abort', this.abortHook);
    await this.ready.catch(() => undefined);
    if (this.timer) clearInterval(this.timer);
    const channel = this.channel;
    if (channel) {
      // Everything received, and the events still waiting for records, into the queue.
      channel.stop();
      this.releaseHeld(true);
      this.finalNative = channel.nativeStats();
      channel.close();
      this.channel = undefined;
    }
    this.ended = true;
    this.enrichment.containers.close();
    try {
      await this.restore();
    } catch (e) {
      this.closeError = e as Error;
      throw e;
    } finally {
      process.removeListener('exit', this.exitHook);
      this.client?.close();
      this.client = undefined;
      // Only now does the iteration end: a consumer that exits right after its
      // loop leaves the kernel as it found it.
      this.closed = true;
      this.settleWaiters();
    }
  }

  private settleWaiters(): void {
    if (this.head < this.queue.length) return; // events still queued: the waiter was answered with one
    for (const w of [this.waiter, this.batchWaiter]) {
      if (!w) continue;
      const error = this.failure ?? this.closeError;
      if (error) w.reject(error);
      else w.resolve({ value: undefined, done: true });
    }
    this.waiter = undefined;
    this.batchWaiter = undefined;
  }

  /** Undo our changes, newest first; try them all and report the first failure. */
  private async restore(): Promise<void> {
    const client = this.client;
    if (!client) return;
    // Each change leaves this.changes once undone, so that if the process
    // exits meanwhile the exit hook still sends the undo of what remains.
    const c = this.changes;
    const errors: unknown[] = [];
    const attempt = async (f: () => Promise<void>, done: () => void): Promise<void> => {
      try {
        await f();
        done();
      } catch (e) {
        errors.push(e);
      }
    };
    // Left in place only if the journal says whose they are, for the next start.
    const handover = this.options.handover !== undefined && this.journal.handOver(this.options.handover) ? this.options.handover : undefined;
    if (handover === undefined) {
      for (const rule of [...c.rules].reverse()) await attempt(() => client.deleteRule(rule), () => c.rules.splice(c.rules.indexOf(rule), 1));
    }
    if (c.registered) await attempt(() => client.setPid(0), () => (c.registered = false));
    if (handover === undefined && c.enabled !== undefined) await attempt(() => client.setEnabled(c.enabled as 0 | 1), () => (c.enabled = undefined));
    if (handover === undefined && c.backlogLimit !== undefined) await attempt(() => client.setBacklogLimit(c.backlogLimit!), () => (c.backlogLimit = undefined));
    // What failed is not retried by the exit hook (it would fail the same way); the journal keeps it for the next start.
    this.changes = { registered: false, rules: [] };
    try {
      this.noteStatus(await client.getStatus());
    } catch {
      // stats keep the last polled numbers
    }
    // A handover's journal stays (rules and settings as they stand) for the next start.
    if (handover === undefined && errors.length === 0) this.journal.remove();
    client.setFarewell([]);
    if (errors.length > 0) {
      // The journal stays: once this process is gone, the next start retries.
      throw new AuditError(
        `closing the subscription could not restore every kernel audit setting it changed: ${errors.map((e) => (e as Error).message).join('; ')}. Check with \`auditctl -s\``,
        (errors[0] as AuditError).code ?? 'ERR_RESTORE',
        undefined,
        undefined,
        { cause: errors[0] },
      );
    }
  }

  /** The requests that undo our changes, newest first. */
  private undoRequests(): Array<{ type: number; payload: Uint8Array }> {
    const c = this.changes;
    const out: Array<{ type: number; payload: Uint8Array }> = [...c.rules].reverse().map((rule) => ({ type: MSG.DEL_RULE, payload: encodeRuleForDelete(rule) }));
    if (c.registered) out.push({ type: MSG.SET, payload: encodeStatus(STATUS_MASK.PID, { pid: 0 }) });
    if (c.enabled !== undefined) out.push({ type: MSG.SET, payload: encodeStatus(STATUS_MASK.ENABLED, { enabled: c.enabled }) });
    if (c.backlogLimit !== undefined) out.push({ type: MSG.SET, payload: encodeStatus(STATUS_MASK.BACKLOG_LIMIT, { backlogLimit: c.backlogLimit }) });
    return out;
  }

  /** Kept current with every change, for a worker terminated mid-stream (see AuditChannel.setFarewell). */
  private updateFarewell(): void {
    this.client?.setFarewell(this.undoRequests(), this.journal.file);
  }

  /** At process exit there is no event loop: send the restoring requests without waiting for answers. */
  private restoreAtExit(): void {
    const client = this.client;
    if (!client) return;
    for (const r of this.undoRequests()) client.sendNow(r.type, r.payload);
    this.journal.remove();
    client.setFarewell([]);
  }
}

/** Subscribe to the kernel's audit events. See SubscribeOptions. */
export function subscribe(options: SubscribeOptions = {}): Subscription {
  return new Subscription(options);
}
