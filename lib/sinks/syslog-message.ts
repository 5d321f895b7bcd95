// RFC 5424 syslog messages from events: what rsyslog and syslog-ng parse
// without configuration (%msg% is the event's JSON; the structured data
// carries the fields a router needs without parsing the JSON).
import os from 'node:os';
import type { AuditEvent } from '../assemble/event.js';
import { alertToJSON, syslogSeverity, type Alert } from '../watch/alert.js';
import { lossToJSON, type LossNotice } from './loss.js';
import type { JsonRecords } from '../shape/json.js';
import type { AuditRecord } from '../decode/record.js';
import { recordToRaw } from '../format/raw.js';
import { escapeText } from '../format/escape.js';

export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type Facility = keyof typeof FACILITIES;

export const SEVERITIES = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export type Severity = keyof typeof SEVERITIES;

export interface SyslogMessageOptions {
  /** Default `user`, as auditd's syslog plugin (audisp-syslog) uses. */
  facility?: Facility;
  /** Default `info`; failed syscalls and operations get `failureSeverity`. */
  severity?: Severity;
  /** Default `notice`: a denied open or a failed login stands out in a severity filter. */
  failureSeverity?: Severity;
  /**
   * `json`: one message per event, MSG the event's JSON (docs/event-schema.md).
   * `raw`: one message per record, MSG the audit.log line, as audisp-syslog sends.
   * Default `json`.
   */
  payload?: 'json' | 'raw' | 'ecs';
  /** Add `[linux-audit@32473 serial=… type=… key=… result=…]` (json payload). Default true. */
  structuredData?: boolean;
  /** How much of each record the JSON payload carries: full, fields (no text), none (summaries). Default full. */
  records?: JsonRecords;
  /** HOSTNAME; default this host's name. A record's `node=` takes precedence. */
  hostname?: string;
  /** APP-NAME; default `linux-audit`. */
  appName?: string;
}

/**
 * The SD-ID: a name@number form is for private use; 32473 is the enterprise
 * number RFC 5612 reserves for documentation and examples.
 */
export const SD_ID = 'linux-audit@32473';
/** The structured data of a watch alert. */
export const ALERT_SD_ID = 'linux-audit-alert@32473';
export const LOSS_SD_ID = 'linux-audit-loss@32473';

/** Header fields are printable US-ASCII without spaces, at most `max` long; '-' when empty. */
function headerField(value: string, max: number): string {
  let out = '';
  for (let i = 0; i < value.length && out.length < max; i++) {
    const c = value.charCodeAt(i);
    out += c > 32 && c < 127 ? value[i] : '_';
  }
  return out === '' ? '-' : out;
}

/** A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (RFC 5424 6.3.3). */
function paramValue(value: string): string {
  // Keys and types are attacker-chosen text: a raw newline would end the
  // message for a receiver that frames by line, and an escape sequence would
  // reach whoever tails the receiver's files. escapeText shows them as `\n`,
  // `\x1b`, and already doubles backslashes as RFC 5424 asks; `"` and `]` remain.
  return escapeText(value).replace(/["\]]/g, (c) => `\\${c}`);
}

function resultOf(ev: AuditEvent): 'success' | 'fail' | 'unknown' {
  for (const r of ev.records) {
    const v = r.fields.success ?? r.fields.res;
    if (v === undefined) continue;
    return v === 'yes' || v === 'success' || v === '1' ? 'success' : 'fail';
  }
  return 'unknown';
}

export class SyslogFormatter {
  private readonly facility: number;
  private readonly severity: number;
  private readonly failureSeverity: number;
  private readonly payload: 'json' | 'raw' | 'ecs';
  private readonly structuredData: boolean;
  private readonly records: JsonRecords;
  private readonly hostname: string;
  private readonly appName: string;
  private readonly procId: string;

  constructor(options: SyslogMessageOptions = {}) {
    this.facility = FACILITIES[options.facility ?? 'user'];
    this.severity = SEVERITIES[options.severity ?? 'info'];
    this.failureSeverity = SEVERITIES[options.failureSeverity ?? 'notice'];
    this.payload = options.payload ?? 'json';
    this.structuredData = options.structuredData ?? true;
    this.records = options.records ?? 'full';
    this.hostname = headerField(options.hostname ?? os.hostname(), 255);
    this.appName = headerField(options.appName ?? 'linux-audit', 48);
    this.procId = String(process.pid);
  }

  /** The messages for one event: one (json) or one per record (raw). */
  messages(ev: AuditEvent): string[] {
    const result = resultOf(ev);
    const pri = this.facility * 8 + (result === 'fail' ? this.failureSeverity : this.severity);
    if (this.payload === 'raw') return ev.records.map((r) => this.header(pri, r.time, r.node, r.typeName) + ' - ' + recordToRaw(r));
    const first: AuditRecord | undefined = ev.records[0];
    let sd = '-';
    if (this.structuredData) {
      const keys = ev.keys;
      sd =
        `[${SD_ID} serial="${ev.serial}" type="${paramValue(first?.typeName ?? '')}"` +
        (keys.length > 0 ? ` key="${paramValue(keys.join(','))}"` : '') +
        ` result="${result}"` +
        (ev.pid !== undefined ? ` pid="${ev.pid}"` : '') +
        ']';
    }
    const body = this.payload === 'ecs' ? ev.toECS() : this.records === 'full' ? ev : ev.toJSONWith(this.records);
    return [`${this.header(pri, ev.time, ev.node, first?.typeName ?? '-')} ${sd} ${JSON.stringify(body)}`];
  }

  /**
   * The message for a watch alert: severity from the alert's (low notice,
   * medium warning, high err, critical crit), MSGID its kind, MSG its JSON.
   */
  alertMessage(a: Alert): string {
    const pri = this.facility * 8 + SEVERITIES[syslogSeverity(a.severity)];
    const c = a.container;
    const sd = this.structuredData
      ? `[${ALERT_SD_ID} kind="${a.kind}" severity="${a.severity}" container="${c === undefined ? 'unknown' : c === null ? 'host' : paramValue(c.id)}"` +
        (a.item !== undefined ? ` item="${paramValue(a.item)}"` : '') +
        (a.process.pid !== undefined ? ` pid="${a.process.pid}"` : '') +
        ']'
      : '-';
    return `${this.header(pri, a.event.time, a.event.node, a.kind)} ${sd} ${JSON.stringify(alertToJSON(a))}`;
  }

  /**
   * The message for a loss notice: severity warning, MSGID LOSS, the counters
   * of the interval in structured data, MSG its JSON.
   */
  lossMessage(n: LossNotice): string {
    const pri = this.facility * 8 + SEVERITIES.warning;
    const l = n.lost;
    const sd = this.structuredData
      ? `[${LOSS_SD_ID}${(['kernel', 'socketOverruns', 'dropped', 'truncated', 'recordsCut'] as const)
          .filter((k) => l[k] !== undefined)
          .map((k) => ` ${k}="${l[k]}"`)
          .join('')}${l.sinks !== undefined ? ` sinks="${paramValue(Object.keys(l.sinks).join(','))}"` : ''}${
          l.suppressed !== undefined ? ` suppressed="${Object.values(l.suppressed).reduce((a, b) => a + b, 0)}"` : ''
        }]`
      : '-';
    return `${this.header(pri, n.time, undefined, 'LOSS')} ${sd} ${JSON.stringify(lossToJSON(n))}`;
  }

  private header(pri: number, time: number, node: string | undefined, msgId: string): string {
    const stamp = time > 0 ? new Date(time).toISOString() : '-';
    const host = node !== undefined ? headerField(node, 255) : this.hostname;
    return `<${pri}>1 ${stamp} ${host} ${this.appName} ${this.procId} ${headerField(msgId, 32)}`;
  }
}
