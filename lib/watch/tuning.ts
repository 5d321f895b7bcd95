// What an operator tunes after the first night: detectors off or at another
// severity, the known false positives of their hosts allowed (docs/watch.md
// lists them: NTP on the host, a runtime's own mounts, debuggers), and the
// same alert not repeated within a window, its repeats counted in the next.
import type { Alert, AlertKind, AlertSeverity } from './alert.js';
import { ALERT_KINDS } from './alert.js';

/** One allowed case: every field given must match the alert (a list: any of it). */
export interface AllowRule {
  kind?: AlertKind | AlertKind[];
  /** The executable of the process (full path), or a bare name matched to its last part. */
  exe?: string | string[];
  /** A container's name, id prefix (12+ characters), pod, or `host`. */
  container?: string | string[];
  /** The container's image, exactly, or a prefix ending in `*` (`registry/ntp:*`). */
  image?: string | string[];
  /** The alert's item (the program, `ipv4 0.0.0.0:123`, `10.0.0.5:443`, `uid 0`). */
  item?: string | string[];
}

export interface WatchTuning {
  /** Per kind: `enabled: false` raises none; `severity` replaces the detector's. */
  detectors?: Partial<Record<AlertKind, { enabled?: boolean; severity?: AlertSeverity }>>;
  /** Alerts that match one of these are not sent (counted in stats().tuning.allowed). */
  allow?: AllowRule[];
  /**
   * The same (kind, container, item) at most once per this many ms; the ones
   * held back are counted and the next one sent says how many
   * (`suppressed`). Default 60000; 0 sends every one.
   */
  throttleMs?: number;
}

export interface TuningStats {
  /** Alerts of detectors turned off. */
  disabled: number;
  /** Alerts an allow rule matched. */
  allowed: number;
  /** Alerts held back by the throttle (each counted again in the next one sent of its kind, container and item). */
  throttled: number;
}

/** Keys kept for throttling before the oldest are forgotten. */
const THROTTLE_KEYS = 10_000;

const list = <T>(v: T | T[] | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

function exeMatches(wanted: string[], exe: string | undefined): boolean {
  if (exe === undefined) return false;
  const base = exe.slice(exe.lastIndexOf('/') + 1);
  return wanted.some((w) => (w.includes('/') ? w === exe : w === base));
}

function containerMatches(wanted: string[], c: Alert['container']): boolean {
  return wanted.some((w) => {
    if (w === 'host') return c === null;
    if (!c) return false;
    return c.name === w || c.pod === w || (w.length >= 12 && c.id.startsWith(w));
  });
}

function imageMatches(wanted: string[], image: string | undefined): boolean {
  if (image === undefined) return false;
  return wanted.some((w) => (w.endsWith('*') ? image.startsWith(w.slice(0, -1)) : image === w));
}

function allows(rule: AllowRule, a: Alert): boolean {
  const kinds = list(rule.kind);
  if (kinds && !kinds.includes(a.kind)) return false;
  const exes = list(rule.exe);
  if (exes && !exeMatches(exes, a.process.exe)) return false;
  const containers = list(rule.container);
  if (containers && !containerMatches(containers, a.container)) return false;
  const images = list(rule.image);
  if (images && !imageMatches(images, a.container ? a.container.image : undefined)) return false;
  const items = list(rule.item);
  if (items && (a.item === undefined || !items.includes(a.item))) return false;
  return true;
}

/** A tuning checked for what no alert could match; the message names the part. */
export function checkTuning(t: WatchTuning): void {
  for (const kind of Object.keys(t.detectors ?? {})) {
    if (!(ALERT_KINDS as readonly string[]).includes(kind)) throw new Error(`detectors.${kind}: not an alert kind; kinds: ${ALERT_KINDS.join(', ')}`);
  }
  (t.allow ?? []).forEach((r, i) => {
    if (Object.keys(r).length === 0) throw new Error(`allow[${i}]: an empty rule would allow every alert; give kind, exe, container, image or item`);
    for (const k of list(r.kind) ?? []) if (!(ALERT_KINDS as readonly string[]).includes(k)) throw new Error(`allow[${i}].kind: "${k}" is not an alert kind`);
  });
}

export class AlertTuner {
  readonly stats: TuningStats = { disabled: 0, allowed: 0, throttled: 0 };
  private tuning: WatchTuning;
  private throttleMs: number;
  /** key → when the last one was sent, and how many were held back since. */
  private readonly recent = new Map<string, { at: number; held: number }>();

  constructor(tuning: WatchTuning = {}) {
    checkTuning(tuning);
    this.tuning = tuning;
    this.throttleMs = tuning.throttleMs ?? 60_000;
  }

  /**
   * Another tuning from now on (a reload): checked first, so a mistake throws
   * and the running one stays. Counts and the throttle's memory go on.
   */
  retune(tuning: WatchTuning): void {
    checkTuning(tuning);
    this.tuning = tuning;
    this.throttleMs = tuning.throttleMs ?? 60_000;
  }

  /** The alerts to send, at `now` (the event's time): detectors, allow rules, then the throttle. */
  apply(alerts: Alert[], now: number): Alert[] {
    const out: Alert[] = [];
    for (const a of alerts) {
      const d = this.tuning.detectors?.[a.kind];
      if (d?.enabled === false) {
        this.stats.disabled++;
        continue;
      }
      if (d?.severity !== undefined) a.severity = d.severity;
      if (this.tuning.allow?.some((r) => allows(r, a))) {
        this.stats.allowed++;
        continue;
      }
      if (this.throttleMs > 0 && a.kind !== 'profile-full') {
        const key = `${a.kind}\u0000${a.container === undefined ? '?' : a.container === null ? 'host' : a.container.id}\u0000${a.item ?? ''}`;
        const seen = this.recent.get(key);
        if (seen !== undefined && now - seen.at < this.throttleMs) {
          seen.held++;
          this.stats.throttled++;
          continue;
        }
        if (seen !== undefined && seen.held > 0) a.suppressed = seen.held;
        this.recent.delete(key);
        if (this.recent.size >= THROTTLE_KEYS) this.recent.delete(this.recent.keys().next().value!);
        this.recent.set(key, { at: now, held: 0 });
      }
      out.push(a);
    }
    return out;
  }
}
