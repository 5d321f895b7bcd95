// Events as auditd writes them to audit.log (log_format=RAW), so ausearch,
// aureport and anything else that reads audit.log can read our output.
import type { AuditEvent } from '../assemble/event.js';
import type { AuditRecord } from '../decode/record.js';

/**
 * `[node=N ]type=NAME msg=audit(SECONDS.MILLIS:SERIAL): body`, as auditd logs
 * it; a log line we could not read as a record, as it was read. The kernel's
 * text has no line break; a hostile log's may (a bare \r, a node= name), and
 * would forge a second line: every \r and \n becomes a space (JSON keeps them).
 */
export function recordToRaw(r: AuditRecord): string {
  const line = r.line ?? `${r.node !== undefined ? `node=${r.node} ` : ''}type=${r.typeName} msg=${r.text}`;
  if (line.indexOf('\n') < 0 && line.indexOf('\r') < 0) return line;
  // split and join rather than a global replace, which slows down more than
  // linearly with the number of matches.
  return line.split('\n').join(' ').split('\r').join(' ');
}

/** The event's records, one line each. */
export function eventToRaw(ev: AuditEvent): string {
  return ev.records.map(recordToRaw).join('\n');
}

/**
 * The event's records as bytes, a log line that was not UTF-8 written back
 * byte for byte (but for \r and \n, as in recordToRaw). Undefined when no
 * record needs it: eventToRaw's text is then the same.
 */
export function eventToRawBytes(ev: AuditEvent): Buffer | undefined {
  const records = ev.records;
  if (!records.some((r) => r.lineBytes !== undefined)) return undefined;
  const parts: Buffer[] = [];
  for (let i = 0; i < records.length; i++) {
    if (i > 0) parts.push(NEWLINE);
    const bytes = records[i].lineBytes;
    if (bytes === undefined) parts.push(Buffer.from(recordToRaw(records[i])));
    else {
      const copy = Buffer.from(bytes);
      for (let k = 0; k < copy.length; k++) if (copy[k] === 0x0a || copy[k] === 0x0d) copy[k] = 0x20;
      parts.push(copy);
    }
  }
  return Buffer.concat(parts);
}

const NEWLINE = Buffer.from('\n');
