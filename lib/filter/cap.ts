// A bound on the bytes of a command line an event carries: a build server's
// execs with megabytes of arguments cost the SIEM more than they tell. The
// EXECVE records (and a PROCTITLE record) past the bound are rewritten as the
// kernel would have written a shorter command line, keeping the first
// arguments, with `argc` as the kernel gave it; each rewritten record is
// marked with the bytes it lost (`cutBytes`), and every cut is counted.
import { EXECVE, PROCTITLE } from '../constants/index.js';
import type { AuditEvent } from '../assemble/event.js';
import { commandLineOf, kernelValue } from '../assemble/argv.js';
import { AuditRecord } from '../decode/record.js';
import { hexBytes, isEncodedHex } from '../decode/fields.js';

/** The `audit(…): ` that opens a record's text, or '' when it has none. */
function headerOf(r: AuditRecord): string {
  const at = r.text.indexOf('): ');
  return at < 0 ? '' : r.text.slice(0, at + 3);
}

export class ArgvCap {
  /** Events with a record cut. */
  events = 0;
  /** Bytes of arguments and titles left out. */
  bytes = 0;

  /** Cut the event's command line and title to `maxBytes` each (a reload may change the bound; the counts go on). */
  apply(ev: AuditEvent, maxBytes: number): void {
    const records = ev.records;
    // A record's payload is never smaller than the bytes it encodes (quotes,
    // names and hex only add), so most events are passed on this sum alone,
    // without making the records' text (every event goes through here).
    let execveBytes = 0;
    let title = -1;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (r.type === EXECVE) execveBytes += r.byteLength;
      else if (r.type === PROCTITLE && title < 0) title = i;
    }
    const titleLong = title >= 0 && records[title].byteLength > maxBytes;
    if (execveBytes <= maxBytes && !titleLong) return;
    let cut = 0;
    const out = records.slice();
    if (execveBytes > maxBytes) cut += cutExecve(out, maxBytes);
    if (titleLong) cut += cutTitle(out, out.indexOf(records[title]), maxBytes);
    if (cut === 0) return;
    ev.replaceRecords(out);
    this.events++;
    this.bytes += cut;
  }
}

/** The EXECVE records in `records` (changed in place) replaced by one holding the first maxBytes of arguments; the bytes left out. */
function cutExecve(records: AuditRecord[], maxBytes: number): number {
  const execves = records.filter((r) => r.type === EXECVE);
  const { args, claimed } = commandLineOf(execves);
  let total = 0;
  for (const a of args) total += a.length;
  if (total <= maxBytes) return 0;
  let room = maxBytes;
  let body = claimed !== undefined ? `argc=${claimed}` : '';
  for (let i = 0; i < args.length && room > 0; i++) {
    const kept = args[i].length <= room ? args[i] : args[i].subarray(0, room);
    room -= kept.length;
    body += `${body === '' ? '' : ' '}a${i}=${kernelValue(kept)}`;
  }
  const first = execves[0];
  const cut = total - (maxBytes - room);
  const rewritten = AuditRecord.fromText(EXECVE, headerOf(first) + body, first.node).markCut(cut);
  // One pass: an event may hold thousands of EXECVE records.
  let kept = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r === first) records[kept++] = rewritten;
    else if (r.type !== EXECVE) records[kept++] = r;
  }
  records.length = kept;
  return cut;
}

/** The PROCTITLE record at `at` replaced by one holding its first maxBytes; the bytes left out. */
function cutTitle(records: AuditRecord[], at: number, maxBytes: number): number {
  const r = records[at];
  const raw = r.rawField('proctitle');
  if (raw === undefined) return 0;
  const bytes = raw.quoted || !isEncodedHex(raw.value, 0, raw.value.length) ? Buffer.from(raw.value, 'utf8') : hexBytes(raw.value, 0, raw.value.length);
  if (bytes.length <= maxBytes) return 0;
  const cut = bytes.length - maxBytes;
  records[at] = AuditRecord.fromText(PROCTITLE, `${headerOf(r)}proctitle=${kernelValue(bytes.subarray(0, maxBytes))}`, r.node).markCut(cut);
  return cut;
}
