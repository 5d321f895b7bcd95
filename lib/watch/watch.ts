// watch(): alerts, not events. Installs the detectors' rules for its lifetime
// (on top of subscribe(), which restores everything it changed), learns each
// container's profile, and yields what is new or never acceptable.
import type { AuditEvent } from '../assemble/event.js';
import { subscribe, type SubscribeOptions, type Subscription, type SubscriptionStats } from '../subscribe/subscription.js';
import type { Alert } from './alert.js';
import { Detector, type DetectStats } from './detect.js';
import { AlertTuner, type TuningStats, type WatchTuning } from './tuning.js';
import { PROFILE_KINDS, Profiles, type ProfileKind, type ProfileOptions } from './profile.js';
import { watchRules } from './rules.js';
import type { ContainerInfo } from '../enrich/container.js';
import type { ContainerDetails } from '../enrich/runtime.js';

/** Containers whose engine answer is remembered for image-keyed profiles. */
const MAX_IMAGES = 4096;

export interface WatchOptions extends ProfileOptions {
  /**
   * Where profiles are kept across restarts (JSON, written atomically, mode
   * 0600). Without it, profiles live in memory and a restart learns again.
   */
  statePath?: string;
  /** How often changed profiles are written to statePath. Default 5000 ms (and always at close). */
  saveIntervalMs?: number;
  /**
   * How long an alert about a container the engine has not named yet waits
   * for its answer (name, image, pod) before it goes out without them, saying
   * why (`container.engineAnswer`). Default 2000 ms.
   */
  namesWaitMs?: number;
  /**
   * What a profile belongs to: each container (default) or each image, so
   * that a new replica, or a container that replaces one, does not learn
   * again. With 'image', an event of a container the engine has not named
   * yet waits up to namesWaitMs for its image.
   */
  profileBy?: 'container' | 'image';
  /** Detectors on/off and their severity, allowed cases, and the throttle (lib/watch/tuning.ts). */
  tuning?: WatchTuning;
  /** Ends the watch (and restores the kernel) when aborted. */
  signal?: AbortSignal;
  /**
   * Passed to subscribe(): mode, procRoot, runtimeSockets… The watch adds its
   * own rules and turns auditing on for its lifetime unless `enable: false`.
   */
  subscribe?: Omit<SubscribeOptions, 'rules' | 'presets' | 'signal'> & { rules?: string[] };
}

export interface ContainerSummary {
  id: string;
  runtime: string;
  name?: string;
  learning: boolean;
  /** When learning ends (or ended), ISO 8601. */
  learnUntil: string;
  items: Record<ProfileKind, number>;
}

export interface WatchStats extends DetectStats {
  containers: number;
  learning: number;
  /** Profile items not kept because a container's cap was reached. */
  overCap: number;
  /** Containers not profiled because maxContainers was reached. */
  untracked: number;
  /** Profiles forgotten because their container had not been seen for forgetAfterMs. */
  expired: number;
  /** Rules of the watch this host could not take (a missing directory), and why. */
  skippedRules: Array<{ rule: string; reason: string }>;
  /** Raised alerts not sent: detectors off, allowed, throttled. `alerts` counts every one raised. */
  tuning: TuningStats;
  subscription: SubscriptionStats;
}

export class Watch implements AsyncIterable<Alert>, AsyncDisposable {
  /** Settles when the rules are in and events flow (rejects if the subscription cannot start). */
  readonly ready: Promise<void>;
  readonly subscription: Subscription;
  private readonly detector: Detector;
  private readonly tuner: AlertTuner;
  private readonly profiles: Profiles;
  private readonly options: WatchOptions;
  private readonly skipped: Array<{ rule: string; reason: string }>;
  private readonly saver: NodeJS.Timeout | undefined;
  private iterating = false;
  /** What the engines said of containers whose image the watch waited for. */
  private readonly images = new Map<string, ContainerDetails | string>();

  constructor(options: WatchOptions = {}) {
    this.options = options;
    this.profiles = new Profiles(options);
    // A state file that cannot be read stops the watch before the kernel is touched.
    if (options.statePath) this.profiles.load(options.statePath);
    const s = options.subscribe ?? {};
    // Every event's container was read by the reader thread as it completed;
    // images the watch waited for are added.
    this.detector = new Detector(this.profiles, (ev) => this.containerOf(ev), { profileBy: options.profileBy });
    this.tuner = new AlertTuner(options.tuning);
    const rules = watchRules();
    this.skipped = rules.skipped;
    this.subscription = subscribe({ enable: true, ...s, rules: [...rules.rules, ...(s.rules ?? [])], signal: options.signal });
    this.ready = this.subscription.ready;
    if (options.statePath) {
      this.saver = setInterval(() => this.save(), options.saveIntervalMs ?? 5000);
      this.saver.unref();
    }
  }

  /** Detectors, allowed cases and the throttle from now on (SIGHUP); a tuning with a mistake throws and the running one stays. */
  retune(tuning: WatchTuning): void {
    this.tuner.retune(tuning);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Alert> {
    if (this.iterating) throw new Error('a watch can be iterated once; make another watch() for a second consumer');
    this.iterating = true;
    try {
      for await (const ev of this.subscription) {
        if (this.options.profileBy === 'image') await this.awaitImage(ev);
        const raised = this.inspect(ev);
        if (raised.length === 0) continue;
        await this.name(raised);
        // After naming: allow rules may name a container or an image.
        for (const a of this.tuner.apply(raised, ev.time)) yield a;
      }
    } finally {
      await this.close();
    }
  }

  /** The alerts one event raises (what the iterator does with each event; for replaying logs through a watch's profiles). */
  inspect(ev: AuditEvent): Alert[] {
    return this.detector.inspect(ev);
  }

  private containerOf(ev: AuditEvent): ContainerInfo | null | undefined {
    const c = ev.container;
    if (!c || c.image !== undefined) return c;
    const d = this.images.get(c.id);
    return d !== undefined && typeof d !== 'string' ? { ...c, ...d } : c;
  }

  /** An image-keyed profile needs the image before the event is inspected: asked once per container, for a bounded time. */
  private async awaitImage(ev: AuditEvent): Promise<void> {
    const c = ev.container;
    if (!c || c.image !== undefined || this.images.has(c.id)) return;
    const answer = await this.subscription.containers.detailsWithin(c.id, this.options.namesWaitMs ?? 2000);
    if (this.images.size >= MAX_IMAGES) this.images.clear();
    this.images.set(c.id, answer);
  }

  /**
   * An alert is sent once: a container the engine had not named when the
   * event arrived (a short-lived one has no later events to carry the name)
   * is asked for, for a bounded time.
   */
  private async name(alerts: Alert[]): Promise<void> {
    const c = alerts[0].container;
    if (!c || c.name !== undefined || c.pod !== undefined) return;
    const answer = await this.subscription.containers.detailsWithin(c.id, this.options.namesWaitMs ?? 2000);
    for (const a of alerts) {
      if (!a.container) continue;
      if (typeof answer === 'string') a.container.engineAnswer = answer;
      else
        for (const k of ['name', 'image', 'pod', 'namespace'] as const) {
          const v = answer[k];
          if (v !== undefined) a.container[k] = v;
        }
    }
  }

  stats(): WatchStats {
    let learning = 0;
    for (const id of this.profiles.ids()) if (this.profiles.get(id)!.learning) learning++;
    return {
      ...this.detector.stats,
      alerts: { ...this.detector.stats.alerts },
      tuning: { ...this.tuner.stats },
      containers: this.profiles.size,
      learning,
      overCap: this.profiles.counts.overCap,
      untracked: this.profiles.counts.untracked,
      expired: this.profiles.counts.expired,
      skippedRules: this.skipped,
      subscription: this.subscription.stats(),
    };
  }

  /** Each profiled container (the host as id "host"): learning or not, and how much its profile holds. */
  summary(): ContainerSummary[] {
    return this.profiles.ids().map((id) => {
      const p = this.profiles.get(id)!;
      const items = Object.fromEntries(PROFILE_KINDS.map((k) => [k, p.items[k].size])) as Record<ProfileKind, number>;
      return { id, runtime: p.runtime, ...(p.name !== undefined && { name: p.name }), learning: p.learning, learnUntil: new Date(p.learnUntil).toISOString(), items };
    });
  }

  /** Write the profiles now, if there is a state file and they changed. */
  save(): void {
    if (this.options.statePath && this.profiles.changed) this.profiles.save(this.options.statePath);
  }

  /** Stop: remove the rules, restore the kernel, write the profiles. Idempotent. */
  async close(): Promise<void> {
    if (this.saver) clearInterval(this.saver);
    try {
      await this.subscription.close();
    } finally {
      this.save();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Watch containers (and the host) for what they have never done, and for what is never acceptable. See docs/watch.md. */
export function watch(options: WatchOptions = {}): Watch {
  return new Watch(options);
}

/** Forget profiles in a state file: one container (full id, or a prefix of 12+ characters) or all. Returns the ids forgotten. */
export function forgetProfiles(statePath: string, id?: string): string[] {
  const profiles = new Profiles({ maxItemsPerKind: Infinity });
  profiles.load(statePath);
  const gone = profiles.forget(id);
  if (gone.length > 0) profiles.save(statePath);
  return gone;
}
