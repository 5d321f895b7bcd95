// Sinks by description: a config object or a URL an operator types.
import { FORMATS, type Format } from '../format/index.js';
import type { EventFilter } from '../filter/index.js';
import { JSON_RECORDS, type JsonRecords } from '../shape/json.js';
import { FileSink, type FileSinkOptions } from './file.js';
import { SinkSpecError, type Sink } from './sink.js';
import { StdoutSink } from './stdout.js';
import { NatsSink, type NatsSinkOptions } from './nats.js';
import { createSyslogSink, type SyslogSinkOptions, type SyslogTransport } from './syslog.js';
import { FACILITIES, SEVERITIES, type Facility, type Severity } from './syslog-message.js';

export { SinkSpecError, type Sink, type SinkStats, type SinkState } from './sink.js';
export { FileSink, type FileSinkOptions } from './file.js';
export { StdoutSink } from './stdout.js';
export { NatsSink, type NatsSinkOptions } from './nats.js';
export { createSyslogSink, type SyslogSinkOptions, type SyslogTransport, type SyslogTlsOptions } from './syslog.js';
export { SyslogFormatter, SD_ID, type SyslogMessageOptions, type Facility, type Severity } from './syslog-message.js';

export type SinkSpec = (
  | { type: 'stdout'; format?: Format; spoolBytes?: number; records?: JsonRecords }
  | ({ type: 'file' } & FileSinkOptions)
  | ({ type: 'syslog' } & SyslogSinkOptions)
  | ({ type: 'nats' } & NatsSinkOptions)
) & {
  /** Only these events go to this sink (after the command's own filter); config files only. */
  filter?: EventFilter;
};

export function createSink(spec: SinkSpec): Sink {
  switch (spec.type) {
    case 'stdout':
      return new StdoutSink({ format: spec.format, spoolBytes: spec.spoolBytes, records: spec.records });
    case 'file':
      return new FileSink(spec);
    case 'syslog':
      return createSyslogSink(spec);
    case 'nats':
      return new NatsSink(spec);
  }
}

const TRANSPORTS: readonly SyslogTransport[] = ['udp', 'tcp', 'tls', 'relp', 'relp+tls'];

/** `64M`, `512K`, `1G` or plain bytes. */
export function parseSize(what: string, text: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new SinkSpecError(`${what}: "${text}" is not a size; write bytes or a number with K, M or G (e.g. 64M)`);
  return Number(m[1]) * 1024 ** ' KMG'.indexOf(m[2].toUpperCase() || ' ');
}

/** `records=full|fields|none`: how much of each record JSON carries. */
function recordsParam(text: string, q: URLSearchParams): JsonRecords | undefined {
  const v = q.get('records');
  if (v === null) return undefined;
  if (!(JSON_RECORDS as readonly string[]).includes(v)) throw new SinkSpecError(`--to ${text}: records must be one of ${JSON_RECORDS.join(', ')}, not "${v}"`);
  return v as JsonRecords;
}

/** `spool=64M` (memory) or `spool=disk:/var/lib/linux-audit/spool?max=1G` (disk, across restarts). */
function spoolParam(text: string, value: string | null): { spoolBytes?: number; spoolDir?: string } {
  if (value === null) return {};
  if (!value.startsWith('disk:')) return { spoolBytes: parseSize(`--to ${text}: spool`, value) };
  const [dir, query = ''] = value.slice('disk:'.length).split('?', 2);
  if (text.startsWith('udp:')) throw new SinkSpecError(`--to ${text}: UDP sends at once and holds nothing; a disk spool needs tcp, tls, relp or relp+tls`);
  if (!dir.startsWith('/')) throw new SinkSpecError(`--to ${text}: spool=disk: wants an absolute directory, e.g. spool=disk:/var/lib/linux-audit/spool?max=1G`);
  const q = new URLSearchParams(query);
  for (const k of q.keys()) if (k !== 'max') throw new SinkSpecError(`--to ${text}: unknown disk spool parameter "${k}"; known: max`);
  const max = q.get('max');
  return { spoolDir: dir, spoolBytes: max !== null ? parseSize(`--to ${text}: spool max`, max) : undefined };
}

/** `nats://[USER:PASS@]HOST[:4222]?subject=audit&by=key|container|none&stream=AUDIT&…` */
function natsUrl(text: string, url: URL): SinkSpec {
  const q = url.searchParams;
  const allowed = ['subject', 'by', 'stream', 'format', 'records', 'spool', 'ca', 'cert', 'key'];
  for (const k of q.keys()) if (!allowed.includes(k)) throw new SinkSpecError(`--to ${text}: unknown parameter "${k}"; known: ${allowed.join(', ')}`);
  if (url.hostname === '') throw new SinkSpecError(`--to ${text}: no host`);
  const by = q.get('by');
  if (by !== null && by !== 'key' && by !== 'container' && by !== 'none') throw new SinkSpecError(`--to ${text}: by must be key, container or none, not "${by}"`);
  const format = q.get('format');
  if (format !== null && format !== 'json' && format !== 'ecs') throw new SinkSpecError(`--to ${text}: format must be json or ecs, not "${format}"`);
  const tlsWanted = url.protocol === 'tls+nats:';
  if (!tlsWanted && ['ca', 'cert', 'key'].some((k) => q.has(k))) throw new SinkSpecError(`--to ${text}: TLS parameters need tls+nats://`);
  return {
    type: 'nats',
    server: `${url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname}:${url.port !== '' ? url.port : '4222'}`,
    user: url.username !== '' ? decodeURIComponent(url.username) : undefined,
    password: url.password !== '' ? decodeURIComponent(url.password) : undefined,
    subject: q.get('subject') ?? undefined,
    subjectBy: (by ?? undefined) as 'key' | 'container' | 'none' | undefined,
    stream: q.get('stream') ?? undefined,
    format: (format ?? undefined) as 'json' | 'ecs' | undefined,
    records: recordsParam(text, q),
    ...spoolParam(text, q.get('spool')),
    tls: tlsWanted ? { ca: q.get('ca') ?? undefined, cert: q.get('cert') ?? undefined, key: q.get('key') ?? undefined } : undefined,
  };
}

const URL_HELP = 'stdout[:json|text|raw|ecs][?spool=64M], file:/PATH[?format=raw|json|ecs&max=8M&num=5&spool=64M], or udp|tcp|tls|relp|relp+tls://HOST[:PORT][?payload=json|raw|ecs&facility=…&severity=…&spool=64M|disk:/DIR?max=1G&ca=…&cert=…&key=…&verify=no], or nats://HOST[:4222][?subject=audit&by=key|container|none&stream=NAME&format=json|ecs&spool=…]';

/**
 * A sink from the URL an operator types after `--to`:
 *   stdout:json · file:/var/log/linux-audit/audit.log?max=8M&num=5
 *   tcp://logs:514 · tls://logs:6514?ca=/etc/ssl/ca.pem · relp://logs:2514
 */
export function parseSinkUrl(text: string): SinkSpec {
  if (text === 'stdout' || text.startsWith('stdout:') || text.startsWith('stdout?')) {
    const [head, query = ''] = text.split('?', 2);
    const format = head.slice('stdout:'.length) || 'json';
    if (!(FORMATS as readonly string[]).includes(format)) throw new SinkSpecError(`--to ${text}: stdout formats are ${FORMATS.join(', ')}`);
    const q = new URLSearchParams(query);
    for (const k of q.keys()) if (k !== 'spool' && k !== 'records') throw new SinkSpecError(`--to ${text}: unknown parameter "${k}"; known: spool, records`);
    return { type: 'stdout', format: format as Format, spoolBytes: q.get('spool') !== null ? parseSize(`--to ${text}: spool`, q.get('spool')!) : undefined, records: recordsParam(text, q) };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SinkSpecError(`--to ${text}: not a sink; write ${URL_HELP}`);
  }
  const q = url.searchParams;
  const known = (allowed: string[]): void => {
    for (const k of q.keys()) if (!allowed.includes(k)) throw new SinkSpecError(`--to ${text}: unknown parameter "${k}"; known: ${allowed.join(', ')}`);
  };
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'file') {
    known(['format', 'max', 'num', 'spool', 'records']);
    const format = q.get('format') ?? 'raw';
    if (format !== 'raw' && format !== 'json' && format !== 'ecs') throw new SinkSpecError(`--to ${text}: file format is raw, json or ecs, not "${format}"`);
    const num = q.get('num');
    if (num !== null && !/^\d+$/.test(num)) throw new SinkSpecError(`--to ${text}: num wants a whole number of files`);
    return {
      type: 'file',
      path: decodeURIComponent(url.pathname),
      format,
      maxBytes: q.get('max') !== null ? parseSize(`--to ${text}: max`, q.get('max')!) : undefined,
      numLogs: num !== null ? Number(num) : undefined,
      spoolBytes: q.get('spool') !== null ? parseSize(`--to ${text}: spool`, q.get('spool')!) : undefined,
      records: recordsParam(text, q),
    };
  }
  if (scheme === 'nats' || scheme === 'tls+nats') return natsUrl(text, url);
  if (!(TRANSPORTS as readonly string[]).includes(scheme)) throw new SinkSpecError(`--to ${text}: unknown scheme "${scheme}"; write ${URL_HELP}`);
  known(['payload', 'facility', 'severity', 'failure-severity', 'sd', 'spool', 'ca', 'cert', 'key', 'servername', 'verify', 'hostname', 'records']);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === '') throw new SinkSpecError(`--to ${text}: no host`);
  const oneOf = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
    const v = q.get(name);
    if (v === null) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw new SinkSpecError(`--to ${text}: ${name} must be one of ${allowed.join(', ')}, not "${v}"`);
    return v as T;
  };
  const yesNo = (name: string): boolean | undefined => {
    const v = oneOf(name, ['yes', 'no', 'true', 'false'] as const);
    return v === undefined ? undefined : v === 'yes' || v === 'true';
  };
  const facilityNames = Object.keys(FACILITIES) as Facility[];
  const severityNames = Object.keys(SEVERITIES) as Severity[];
  const tlsWanted = scheme === 'tls' || scheme === 'relp+tls';
  if (!tlsWanted && ['ca', 'cert', 'key', 'servername', 'verify'].some((k) => q.has(k))) {
    throw new SinkSpecError(`--to ${text}: TLS parameters need tls:// or relp+tls://`);
  }
  return {
    type: 'syslog',
    transport: scheme as SyslogTransport,
    host,
    port: url.port !== '' ? Number(url.port) : undefined,
    payload: oneOf('payload', ['json', 'raw', 'ecs'] as const),
    facility: oneOf('facility', facilityNames),
    severity: oneOf('severity', severityNames),
    failureSeverity: oneOf('failure-severity', severityNames),
    structuredData: yesNo('sd'),
    records: recordsParam(text, q),
    hostname: q.get('hostname') ?? undefined,
    ...spoolParam(text, q.get('spool')),
    tls: tlsWanted
      ? { ca: q.get('ca') ?? undefined, cert: q.get('cert') ?? undefined, key: q.get('key') ?? undefined, servername: q.get('servername') ?? undefined, verify: yesNo('verify') }
      : undefined,
  };
}
