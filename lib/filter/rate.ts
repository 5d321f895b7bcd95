// At most so many events per second per rule key: a noisy rule (a build
// server's execs) cannot flood the SIEM. Each key has its own bucket, so a
// storm under one key never suppresses another's; what is held back is
// counted per key, for the health line, the metrics and the LOSS notices.
import type { AuditEvent } from '../assemble/event.js';

/** Keys tracked at most; past it the least recently seen is forgotten (its counts stay). */
const MAX_KEYS = 4096;

export class RateLimit {
  /** Events suppressed so far, by key (`(none)` for events without one). */
  readonly suppressed = new Map<string, number>();
  private readonly perSecond: number;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** `perSecond` events per key per second, in bursts of up to as many. */
  constructor(perSecond: number) {
    this.perSecond = perSecond;
  }

  /** Whether the event may go on, at `now` (ms); false counts it as suppressed. */
  allow(ev: AuditEvent, now: number): boolean {
    const key = ev.keys[0] ?? '(none)';
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.perSecond, at: now };
    } else {
      this.buckets.delete(key); // re-inserted below: the map's order is recency
      b.tokens = Math.min(this.perSecond, b.tokens + ((now - b.at) * this.perSecond) / 1000);
      b.at = now;
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    if (this.suppressed.size < MAX_KEYS || this.suppressed.has(key)) this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
    else this.suppressed.set('(other keys)', (this.suppressed.get('(other keys)') ?? 0) + 1);
    return false;
  }

  /** All suppressed events. */
  get total(): number {
    let n = 0;
    for (const v of this.suppressed.values()) n += v;
    return n;
  }
}
