// --format ecs against the published Elastic Common Schema (npm @elastic/ecs,
// its flat field definitions): every field we write outside our own `auditd`
// namespace is an ECS field, of its type, an array only where ECS says one,
// and the categorization values are ECS's allowed ones.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { readAuditLog } from '../lib/logfile/read.js';
import type { AuditEvent } from '../lib/assemble/event.js';
import { ECS_VERSION, eventToECS } from '../lib/shape/ecs.js';
import type { ContainerInfo } from '../lib/enrich/container.js';
import { CORPUS, corpusPath } from './helpers/corpus.js';

const require = createRequire(import.meta.url);
interface FieldDef {
  type: string;
  normalize?: string[];
  allowed_values?: Array<{ name: string; expected_event_types?: string[] }>;
}
const ECS = (require('@elastic/ecs') as { EcsFlat: Record<string, FieldDef> }).EcsFlat;
const ecsPackage = JSON.parse(fs.readFileSync(require.resolve('@elastic/ecs/package.json'), 'utf8')) as { version: string };

async function corpusEvents(): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  const logs = (fs.readdirSync(CORPUS, { recursive: true }) as string[]).filter((f) => f.endsWith('.log')).sort();
  for (const log of logs) for await (const ev of readAuditLog(fs.createReadStream(corpusPath(log)))) out.push(ev);
  for (const f of fs.readdirSync(corpusPath('laurel')).filter((n) => /^record-.*\.txt$/.test(n))) {
    for await (const ev of readAuditLog(fs.createReadStream(corpusPath('laurel', f)), { expectEndOfEvent: true })) out.push(ev);
  }
  return out;
}

/** dotted name → value, arrays kept whole (ECS types their elements). */
function flatten(doc: Record<string, unknown>, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [k, v] of Object.entries(doc)) {
    const name = prefix + k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, `${name}.`, out);
    else out.set(name, v);
  }
  return out;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
function typed(def: FieldDef, v: unknown): boolean {
  switch (def.type) {
    case 'keyword':
    case 'wildcard':
    case 'match_only_text':
    case 'constant_keyword':
      return typeof v === 'string';
    case 'long':
      return Number.isInteger(v);
    case 'date':
      return typeof v === 'string' && !Number.isNaN(Date.parse(v));
    case 'ip':
      return typeof v === 'string' && (IPV4.test(v) || v.includes(':'));
    default:
      return false;
  }
}

/** What is wrong with a document, as lines; empty when it is all ECS. */
function problems(doc: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [name, value] of flatten(doc)) {
    if (name.startsWith('auditd.')) continue;
    const def = ECS[name];
    if (!def) {
      out.push(`${name}: not an ECS field`);
      continue;
    }
    const many = def.normalize?.includes('array') ?? false;
    if (Array.isArray(value) !== many) out.push(`${name}: ${many ? 'should' : 'should not'} be an array`);
    for (const v of Array.isArray(value) ? value : [value]) {
      if (!typed(def, v)) out.push(`${name}: ${JSON.stringify(v)} is not of ECS type ${def.type}`);
      if (def.allowed_values && !def.allowed_values.some((a) => a.name === v)) out.push(`${name}: ${JSON.stringify(v)} is not an allowed value`);
    }
  }
  // Each type is one ECS expects for one of the event's categories.
  const event = doc.event as { category?: string[]; type?: string[] };
  const expected = new Set((event.category ?? []).flatMap((c) => ECS['event.category'].allowed_values!.find((a) => a.name === c)?.expected_event_types ?? []));
  for (const t of event.type ?? []) if (!expected.has(t)) out.push(`event.type ${t} is not one ECS expects for categories ${(event.category ?? []).join(', ')}`);
  return out;
}

describe('ECS', () => {
  it('names the version of the definitions it is checked against', () => {
    expect(ECS_VERSION).toBe(ecsPackage.version);
  });

  it('every corpus event: ECS fields only (outside auditd.*), of ECS types, with allowed categorization', async () => {
    const evs = await corpusEvents();
    expect(evs.length).toBeGreaterThan(200);
    const wrong = new Map<string, number>();
    for (const ev of evs) for (const p of problems(eventToECS(ev, false))) wrong.set(p.replace(/"[^"]*"/, '…'), (wrong.get(p.replace(/"[^"]*"/, '…')) ?? 0) + 1);
    expect([...wrong]).toEqual([]);
  });

  it('an exec: event, process, user, file from the records', async () => {
    const [ev] = await corpusEvents().then((e) => e.filter((x) => x.records.some((r) => r.typeName === 'EXECVE') && x.records[0].fields.exe === '/usr/bin/whoami'));
    const doc = eventToECS(ev, false) as Record<string, Record<string, unknown>>;
    expect(doc.event).toMatchObject({ kind: 'event', module: 'auditd', category: ['process'], type: ['start'], action: 'executed', outcome: 'success', sequence: 15558 });
    expect(doc.process).toMatchObject({ pid: 10884, parent: { pid: 10883 }, executable: '/usr/bin/whoami', name: 'whoami', args: ['whoami'], args_count: 1, working_directory: '/home/user/tmp' });
    expect(doc.file).toMatchObject({ path: '/usr/bin/whoami', inode: '261214', mode: '0755', uid: '0', gid: '0' });
    expect(doc.host).toEqual({ name: 'work' });
  });

  it('a live event in a Kubernetes pod: container and orchestrator, all ECS', async () => {
    const [ev] = await corpusEvents();
    const info: ContainerInfo = { id: 'a'.repeat(64), runtime: 'containerd', cgroup: '/kubepods/x', name: 'web', containerName: 'web', image: 'registry/shop:1.2', pod: 'shop-7d9', namespace: 'prod', podUid: '1b2c' };
    Object.defineProperty(ev, 'container', { value: info });
    const doc = eventToECS(ev, true) as Record<string, unknown>;
    expect(doc.container).toEqual({ id: 'a'.repeat(64), runtime: 'containerd', name: 'web', image: { name: 'registry/shop:1.2' } });
    expect(doc.orchestrator).toEqual({ type: 'kubernetes', namespace: 'prod', resource: { type: 'pod', name: 'shop-7d9', id: '1b2c' } });
    expect(problems(doc)).toEqual([]);
  });
});

describe('ECS out of the command and the sinks', () => {
  it('parse --format ecs, file format=ecs and syslog payload=ecs write the same document', async () => {
    const { cli } = await import('./helpers/cli.js');
    const { SyslogFormatter } = await import('../lib/sinks/syslog-message.js');
    const file = corpusPath('laurel/record-execve.txt');
    const line = cli(['parse', '--eoe', '--format', 'ecs', file]).stdout.trim();
    const [ev] = await corpusEvents().then((e) => e.filter((x) => x.records[0].fields.exe === '/usr/bin/whoami'));
    expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(eventToECS(ev, false))));
    const [message] = new SyslogFormatter({ hostname: 'h', payload: 'ecs' }).messages(ev);
    expect(JSON.parse(message.slice(message.indexOf('{')))).toEqual(JSON.parse(line));
  });
});
