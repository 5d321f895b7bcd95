// One line of meaning per event: who did what to what, how, and did it work —
// in the words of go-libaudit's normalizations, so our summaries read like
// Auditbeat's (`actor` alice `opened-file` /etc/shadow `how` /usr/bin/vim).
import { SYSCALL } from '../constants/index.js';
import type { AuditEvent } from '../assemble/event.js';
import { NORMALIZATIONS, type Normalization } from './normalizations.generated.js';
import { parseSockaddr } from '../interpret/index.js';

export interface Summary {
  actor: { primary?: string; secondary?: string };
  action?: string;
  object: { type?: string; primary?: string; secondary?: string };
  how?: string;
  /** success or fail; unknown when the event does not say. */
  result: 'success' | 'fail' | 'unknown';
}

const bySyscall = new Map<string, Normalization>();
const byRecordType = new Map<string, Normalization>();
let catchAll: Normalization | undefined;
for (const n of NORMALIZATIONS) {
  for (const s of n.syscalls) {
    if (s === '*') catchAll = n;
    else bySyscall.set(s, n);
  }
  for (const t of n.recordTypes) byRecordType.set(t, n);
}

/** The value of the first of `names` the event has (interpreted), looking through all its records. */
function firstField(ev: AuditEvent, names: string[] | undefined, interpreted = true): string | undefined {
  if (!names) return undefined;
  for (const name of names) {
    for (const r of ev.records) {
      if (r.fields[name] === undefined) continue;
      return interpreted ? r.interpreted[name] : r.fields[name];
    }
  }
  return undefined;
}

function resultOf(ev: AuditEvent): 'success' | 'fail' | 'unknown' {
  for (const r of ev.records) {
    const v = r.fields.success ?? r.fields.res ?? r.fields.result;
    if (v === undefined) continue;
    return v === 'yes' || v === 'success' || v === '1' ? 'success' : 'fail';
  }
  return 'unknown';
}

/** The name of the PATH record at `index` (the first by default), as go-libaudit picks it. */
function pathObject(ev: AuditEvent, index = 0): string | undefined {
  return ev.records.filter((r) => r.typeName === 'PATH')[index]?.fields.name;
}

/**
 * Interpreters: when a script runs in one, its exe says little and the process
 * name (set from the script) says what runs.
 */
const INTERPRETERS = /^(\/usr)?\/bin\/(python|perl|ruby|bash|sh|dash|php|node)/;

function howOf(ev: AuditEvent): string | undefined {
  const exe = firstField(ev, ['exe'], false);
  const comm = firstField(ev, ['comm'], false);
  if (exe === undefined) return comm;
  return INTERPRETERS.test(exe) && comm !== undefined && comm !== exe.slice(exe.lastIndexOf('/') + 1) ? comm : exe;
}

/** The normalization that covers the event (go-libaudit's), or undefined. */
export function normalizationOf(ev: AuditEvent): Normalization | undefined {
  const syscallRecord = ev.record(SYSCALL);
  if (!syscallRecord) return byRecordType.get(ev.records[0].typeName);
  let n = bySyscall.get(syscallRecord.interpreted.syscall) ?? catchAll;
  // A record of its own kind inside a syscall event (KERN_MODULE, …) is more specific.
  for (const r of ev.records) n = (r !== syscallRecord && byRecordType.get(r.typeName)) || n;
  return n;
}

/** The event's summary, or undefined for an event no normalization covers. */
export function summarize(ev: AuditEvent): Summary | undefined {
  const n = normalizationOf(ev);
  if (!n) return undefined;
  const summary: Summary = { actor: {}, object: {}, result: resultOf(ev) };
  const primary = firstField(ev, n.subjectPrimary ?? ['auid']);
  const secondary = firstField(ev, n.subjectSecondary ?? ['uid']);
  if (primary !== undefined) summary.actor.primary = primary;
  if (secondary !== undefined) summary.actor.secondary = secondary;
  if (n.action) summary.action = n.action;
  if (n.objectWhat) summary.object.type = n.objectWhat;
  let objectPrimary = firstField(ev, n.objectPrimary, false);
  if (objectPrimary === undefined && (n.objectWhat === 'file' || n.objectWhat === 'filesystem' || n.objectPathIndex !== undefined)) {
    objectPrimary = pathObject(ev, n.objectPathIndex);
    if (objectPrimary !== undefined) summary.object.type = 'file';
  }
  let objectSecondary = firstField(ev, n.objectSecondary, false);
  if (objectPrimary === undefined && n.objectWhat === 'socket') {
    const saddr = ev.records.find((r) => r.typeName === 'SOCKADDR')?.fields.saddr;
    const a = saddr !== undefined ? parseSockaddr(saddr) : undefined;
    objectPrimary = a?.addr ?? a?.path;
    if (a?.port !== undefined) objectSecondary ??= String(a.port);
  }
  if (objectPrimary !== undefined) summary.object.primary = objectPrimary;
  if (objectSecondary !== undefined) summary.object.secondary = objectSecondary;
  const how = n.how ? firstField(ev, n.how, false) : howOf(ev);
  if (how !== undefined) summary.how = how;
  return summary;
}
