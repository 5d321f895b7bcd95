// What the container watch says: one alert per thing an operator should look
// at, attributed to a container (or the host), with the event that showed it.
import type { AuditEvent } from '../assemble/event.js';
import type { AuditEventJSON, ProcessJSON } from '../shape/json.js';
import { escapeText } from '../format/escape.js';

/** How urgent, mapped to syslog severities by the sinks: low→notice, medium→warning, high→err, critical→crit. */
export type AlertSeverity = 'low' | 'medium' | 'high' | 'critical';

export const ALERT_KINDS = [
  // New against the container's learned profile: raised once per distinct item.
  'new-program',
  'new-listening-port',
  'new-destination',
  'new-user',
  // Always, profile or not.
  'clock-change',
  'kernel-module',
  'mount',
  'ptrace-attach',
  'namespace-change',
  'docker-config-change',
  'docker-socket-access',
  'exec-from-writable-dir',
  // The profile of a container stopped growing at its cap (once per container and kind).
  'profile-full',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** Which container: `null` in Alert.container is the host. */
export interface AlertContainer {
  id: string;
  runtime: string;
  name?: string;
  image?: string;
  pod?: string;
  namespace?: string;
  /**
   * Why name, image and pod are missing, when they are: no engine socket to
   * ask ('no-engine'), no engine knows the id ('not-found'), or none answered
   * within the watch's namesWaitMs ('timeout').
   */
  engineAnswer?: 'no-engine' | 'not-found' | 'timeout';
}

export interface Alert {
  kind: AlertKind;
  severity: AlertSeverity;
  /** One sentence for a person: what happened, where, and why it is an alert. */
  reason: string;
  /** When the event happened (the kernel's time), ISO 8601. */
  time: string;
  /** The container, or null for the host; absent when the process (and its parent) had gone before it could be read. */
  container?: AlertContainer | null;
  process: ProcessJSON & { uid?: number; user?: string };
  /** What is new, for new-* alerts: the program, `ipv4 0.0.0.0:8080`, `10.0.0.5:443`, the user. */
  item?: string;
  /** How many alerts of the same kind, container and item the throttle held back since the last one sent. */
  suppressed?: number;
  /** The event that raised it. */
  event: AuditEvent;
}

/** An alert as JSON (docs/watch.md): the event in its documented shape. */
export function alertToJSON(a: Alert): Omit<Alert, 'event'> & { event: AuditEventJSON } {
  return { ...a, event: a.event.toJSON() };
}

/** The syslog severity name for an alert's. */
export function syslogSeverity(s: AlertSeverity): 'notice' | 'warning' | 'err' | 'crit' {
  return s === 'low' ? 'notice' : s === 'medium' ? 'warning' : s === 'high' ? 'err' : 'crit';
}

/** One line for a terminal: time, severity, kind, where, and the reason (escaped: it quotes what processes named themselves). */
export function alertToText(a: Alert): string {
  const where = a.container === undefined ? 'unknown' : a.container === null ? 'host' : a.container.name ?? a.container.id.slice(0, 12);
  return `${a.time} ${a.severity.toUpperCase()} ${a.kind} ${escapeText(where)}: ${escapeText(a.reason)}${a.suppressed ? ` (${a.suppressed} more like it held back)` : ''}`;
}
