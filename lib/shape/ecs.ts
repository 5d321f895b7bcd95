// Events in the Elastic Common Schema, as Auditbeat's auditd module writes
// them: ECS fields where ECS has one (event.*, process.*, user.*, file.*,
// source/destination, host.*, container.*, orchestrator.* for Kubernetes), the
// categorization from go-libaudit's normalizations (the ones Auditbeat uses),
// and what ECS has no field for under `auditd.*`. The field names and types
// are checked against the published definitions (npm @elastic/ecs) by
// test/ecs.test.ts.
import type { AuditEvent } from '../assemble/event.js';
import { normalizationOf, summarize } from './summary.js';
import { hostName, processOf, syscallOf } from './json.js';
import { parseSockaddr } from '../interpret/index.js';

/** The ECS version whose field definitions this mapping is checked against. */
export const ECS_VERSION = '9.4.0';

type Doc = Record<string, unknown>;

const OUTCOME = { success: 'success', fail: 'failure', unknown: 'unknown' } as const;

/** An id and its name, as ECS's user objects hold them (`unset` ids are left out). */
function idAndName(ev: AuditEvent, field: string): { id: string; name?: string } | undefined {
  for (const r of ev.records) {
    const raw = r.fields[field];
    if (raw === undefined || !/^\d+$/.test(raw) || raw === '4294967295') continue;
    const name = r.interpreted[field];
    return name !== undefined && name !== raw && !name.startsWith('unknown(') ? { id: raw, name } : { id: raw };
  }
  return undefined;
}

/**
 * go-libaudit gives ANOM_PROMISCUOUS the category intrusion_detection alone
 * with the type change, which ECS does not expect for it (allowed, denied,
 * info): a type no category of the event expects is left out (info if none is
 * left), so the event is categorized as ECS reads it.
 */
function ecsTypes(categories: string[], types: string[]): string[] {
  if (categories.length !== 1 || categories[0] !== 'intrusion_detection') return types;
  const kept = types.filter((t) => t === 'allowed' || t === 'denied' || t === 'info');
  return kept.length > 0 ? kept : ['info'];
}

/** Calls whose socket address is the local end (the process's own), not the peer. */
const LOCAL_ADDRESS_CALLS = new Set(['bind', 'listen']);

/** The ECS document of an event. `live` events name this host; a log's name theirs by node=. */
export function eventToECS(ev: AuditEvent, live: boolean): Doc {
  const summary = summarize(ev);
  const n = normalizationOf(ev);
  const event: Doc = {
    kind: 'event',
    module: 'auditd',
    ...(n?.ecs && { category: n.ecs.category, type: ecsTypes(n.ecs.category, n.ecs.type) }),
    ...(summary?.action !== undefined && { action: summary.action }),
    outcome: OUTCOME[summary?.result ?? 'unknown'],
    sequence: ev.serial,
  };
  const doc: Doc = { '@timestamp': new Date(ev.time).toISOString(), ecs: { version: ECS_VERSION }, event };
  if (summary) {
    const a = summary.actor.primary ?? summary.actor.secondary;
    const o = summary.object.primary;
    doc.message = [a, summary.action, o, summary.how !== undefined ? `via ${summary.how}` : undefined].filter((x) => x !== undefined).join(' ');
  }
  const keys = ev.keys;
  if (keys.length > 0) doc.tags = keys;
  const host = live ? hostName() : ev.node;
  if (host !== undefined) doc.host = { name: host };

  const p = processOf(ev);
  if (p) {
    const process: Doc = {};
    if (p.pid !== undefined) process.pid = p.pid;
    if (p.ppid !== undefined) process.parent = { pid: p.ppid };
    if (p.exe !== undefined) process.executable = p.exe;
    if (p.comm !== undefined) process.name = p.comm;
    if (p.argv) {
      process.args = p.argv;
      process.args_count = p.argv.length;
    }
    if (p.title !== undefined) process.title = p.title;
    if (p.cwd !== undefined) process.working_directory = p.cwd;
    if (Object.keys(process).length > 0) doc.process = process;
  }

  const user: Doc = {};
  const uid = idAndName(ev, 'uid');
  if (uid) Object.assign(user, uid);
  const euid = idAndName(ev, 'euid');
  if (euid && euid.id !== uid?.id) user.effective = euid;
  const gid = idAndName(ev, 'gid');
  if (gid) user.group = gid;
  // The normalization says when the object is a user (useradd, passwd) or a group.
  for (const m of n?.ecs?.mappings ?? []) {
    if (m.from !== 'object.primary' || summary?.object.primary === undefined) continue;
    if (m.to === 'user.target') user.target = { name: summary.object.primary };
    else if (m.to === 'group') doc.group = { name: summary.object.primary };
  }
  if (Object.keys(user).length > 0) doc.user = user;
  const related = [...new Set([uid?.name, euid?.name, idAndName(ev, 'auid')?.name].filter((x): x is string => x !== undefined))];
  if (related.length > 0) doc.related = { user: related };

  if (summary?.object.type === 'file' && summary.object.primary !== undefined) {
    const path = ev.records.find((r) => r.typeName === 'PATH' && r.fields.name === summary.object.primary);
    const file: Doc = { path: summary.object.primary };
    if (path) {
      const f = path.fields;
      if (f.inode !== undefined && /^\d+$/.test(f.inode)) file.inode = f.inode;
      if (f.mode !== undefined && /^[0-7]+$/.test(f.mode)) file.mode = f.mode.slice(-4).padStart(4, '0');
      if (f.ouid !== undefined && /^\d+$/.test(f.ouid)) {
        file.uid = f.ouid;
        const owner = path.interpreted.ouid;
        if (owner !== f.ouid && !owner.startsWith('unknown(')) file.owner = owner;
      }
      if (f.ogid !== undefined && /^\d+$/.test(f.ogid)) {
        file.gid = f.ogid;
        const group = path.interpreted.ogid;
        if (group !== f.ogid && !group.startsWith('unknown(')) file.group = group;
      }
      if (f.dev !== undefined) file.device = f.dev;
    }
    doc.file = file;
  }

  const sc = syscallOf(ev);
  const saddr = ev.records.find((r) => r.typeName === 'SOCKADDR')?.fields.saddr;
  const socket = saddr !== undefined ? parseSockaddr(saddr) : undefined;
  if (socket?.addr !== undefined) {
    const end: Doc = { ip: socket.addr, address: socket.addr, ...(socket.port !== undefined && { port: socket.port }) };
    doc[sc !== undefined && LOCAL_ADDRESS_CALLS.has(sc.name) ? 'source' : 'destination'] = end;
  }

  if (live) {
    const c = ev.container;
    if (c) {
      doc.container = {
        id: c.id,
        runtime: c.runtime,
        ...((c.containerName ?? c.name) !== undefined && { name: c.containerName ?? c.name }),
        ...(c.image !== undefined && { image: { name: c.image } }),
      };
      if (c.pod !== undefined) {
        doc.orchestrator = {
          type: 'kubernetes',
          ...(c.namespace !== undefined && { namespace: c.namespace }),
          resource: { type: 'pod', name: c.pod, ...(c.podUid !== undefined && { id: c.podUid }) },
        };
      }
    }
  }

  // What ECS has no field for, under the module's own name, as Auditbeat does.
  const auditd: Doc = { sequence: ev.serial, result: summary?.result ?? 'unknown' };
  if (summary) auditd.summary = summary;
  const auid = idAndName(ev, 'auid');
  if (auid) auditd.user = { audit: auid };
  const ses = ev.records.find((r) => r.fields.ses !== undefined)?.fields.ses;
  if (ses !== undefined && ses !== '4294967295') auditd.session = ses;
  if (sc) auditd.syscall = sc;
  if (ev.incomplete) auditd.incomplete = true;
  auditd.types = ev.records.map((r) => r.typeName);
  doc.auditd = auditd;
  return doc;
}
