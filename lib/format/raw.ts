// Events as auditd writes them to audit.log (log_format=RAW), so ausearch,
// aureport and anything else that reads audit.log can read our output.
import type { AuditEvent } from '../assemble/event.js';
import type { AuditRecord } from '../decode/record.js';

/** `[node=N ]type=NAME msg=audit(SECONDS.MILLIS:SERIAL): body`, as auditd logs it. */
export function recordToRaw(r: AuditRecord): string {
  // The kernel's text has no newline; a record read from a hostile log might.
  // A newline would split it into two lines, the second forged, so it is
  // replaced (the JSON format keeps every byte).
  const text = r.text.indexOf('\n') >= 0 ? r.text.replace(/\n/g, ' ') : r.text;
  return `${r.node !== undefined ? `node=${r.node} ` : ''}type=${r.typeName} msg=${text}`;
}

/** The event's records, one line each. */
export function eventToRaw(ev: AuditEvent): string {
  return ev.records.map(recordToRaw).join('\n');
}
