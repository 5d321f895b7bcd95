// Loss that reaches the SIEM: a counter on the agent's host is seen only by
// whoever looks there. When any loss counter moves, one notice goes to every
// sink, beside the events, saying what was lost and where; at most one per
// interval, and one at shutdown for what the last interval lost.
import os from 'node:os';
import type { SubscriptionStats } from '../subscribe/subscription.js';
import type { SinkStats } from './sink.js';

/** Loss counters, totals since the agent started. */
export interface LossCounts {
  /** Records the kernel dropped from its queue (its `lost` counter). */
  kernel: number;
  /** Times the socket buffer overflowed (records the kernel could not hand over). */
  socketOverruns: number;
  /** Records we read and discarded because the consumer fell behind. */
  dropped: number;
  /** Records longer than a receive slot, delivered cut. */
  truncated: number;
  /** Records left out of events past the per-event bound. */
  recordsCut: number;
  /** Per sink: messages dropped because its spool was full, and for another reason. */
  sinks: Record<string, { spoolDropped: number; failed: number }>;
  /** Per rule key: events the rate limit held back (asked for, not loss, but the receiver should know). */
  suppressed?: Record<string, number>;
}

export interface LossNotice {
  /** When the notice was made (ms since the epoch). */
  time: number;
  /** The start of the interval it covers: the previous notice, or the agent's start. */
  since: number;
  host: string;
  /** What was lost in the interval: only the counters that moved. */
  lost: Partial<Omit<LossCounts, 'sinks' | 'suppressed'>> & { sinks?: LossCounts['sinks']; suppressed?: Record<string, number> };
  /** Every counter since the agent started. */
  total: LossCounts;
}

/** The counters of a subscription and its sinks (kernel loss only where it can be read). */
export function lossCounts(s: SubscriptionStats, sinks: SinkStats[], suppressed?: ReadonlyMap<string, number>): LossCounts {
  const bySink: LossCounts['sinks'] = Object.create(null) as LossCounts['sinks'];
  for (const k of sinks) bySink[k.name] = { spoolDropped: k.spoolDropped, failed: k.failed };
  const counts: LossCounts = { kernel: s.kernelLost, socketOverruns: s.socketOverruns, dropped: s.dropped, truncated: s.truncated, recordsCut: s.recordsCut, sinks: bySink };
  if (suppressed !== undefined && suppressed.size > 0) counts.suppressed = Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(suppressed));
  return counts;
}

const SCALARS = ['kernel', 'socketOverruns', 'dropped', 'truncated', 'recordsCut'] as const;

/** `kernel 12, dropped 3; relp://logs:2514 spool-dropped 40`: the lost part of a notice in words. */
export function lossText(lost: LossNotice['lost']): string {
  const words: Record<(typeof SCALARS)[number], string> = { kernel: 'kernel', socketOverruns: 'socket overruns', dropped: 'dropped', truncated: 'truncated', recordsCut: 'cut from events' };
  const parts = SCALARS.filter((k) => lost[k] !== undefined).map((k) => `${words[k]} ${lost[k]}`);
  for (const [name, s] of Object.entries(lost.sinks ?? {})) {
    parts.push(`${name}${s.spoolDropped > 0 ? ` spool-dropped ${s.spoolDropped}` : ''}${s.failed > 0 ? ` failed ${s.failed}` : ''}`);
  }
  for (const [key, n] of Object.entries(lost.suppressed ?? {})) parts.push(`rate limit held back ${n} of key ${key}`);
  return parts.join(', ');
}

/** The notice as JSON: `type: "LOSS"` tells it from events (which have `types`) and alerts (`kind`). */
export function lossToJSON(n: LossNotice): Record<string, unknown> {
  return {
    type: 'LOSS',
    time: new Date(n.time).toISOString(),
    since: new Date(n.since).toISOString(),
    host: n.host,
    message: `linux-audit lost data on ${n.host} since ${new Date(n.since).toISOString()}: ${lossText(n.lost)}`,
    lost: n.lost,
    total: n.total,
  };
}

/**
 * Compares the counters with the last notice's every `intervalMs` (and at
 * stop), and emits a notice when any moved.
 */
export class LossWatch {
  private last: LossCounts;
  private since = Date.now();
  private readonly timer: NodeJS.Timeout;
  private readonly host = os.hostname();

  constructor(
    private readonly read: () => LossCounts,
    private readonly emit: (n: LossNotice) => void,
    intervalMs: number,
  ) {
    this.last = read();
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  /** Emit a notice now if anything was lost since the last one; returns it. */
  check(): LossNotice | undefined {
    const now = this.read();
    const lost: LossNotice['lost'] = {};
    let moved = false;
    for (const k of SCALARS) {
      const d = now[k] - this.last[k];
      if (d > 0) {
        lost[k] = d;
        moved = true;
      }
    }
    for (const [name, s] of Object.entries(now.sinks)) {
      const was = this.last.sinks[name] ?? { spoolDropped: 0, failed: 0 };
      const spoolDropped = s.spoolDropped - was.spoolDropped;
      const failed = s.failed - was.failed;
      if (spoolDropped > 0 || failed > 0) {
        (lost.sinks ??= Object.create(null) as LossCounts['sinks'])[name] = { spoolDropped, failed };
        moved = true;
      }
    }
    for (const [key, n] of Object.entries(now.suppressed ?? {})) {
      const d = n - (this.last.suppressed?.[key] ?? 0);
      if (d > 0) {
        (lost.suppressed ??= Object.create(null) as Record<string, number>)[key] = d;
        moved = true;
      }
    }
    if (!moved) return undefined;
    const notice: LossNotice = { time: Date.now(), since: this.since, host: this.host, lost, total: now };
    // What the notice itself costs a full spool is counted in the next one.
    this.last = now;
    this.since = notice.time;
    this.emit(notice);
    return notice;
  }

  /** Stop the timer; a last check covers the final interval. */
  stop(): LossNotice | undefined {
    clearInterval(this.timer);
    return this.check();
  }
}
