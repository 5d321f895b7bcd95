// The agent's config file (/etc/linux-audit/config.json or --config): what to
// receive, which rules to install, what to keep, where to send it. Checked
// whole before anything starts; an error names the key and what it wants.
import fs from 'node:fs';
import type { EventFilter } from '../filter/index.js';
import { PRESETS, type PresetName } from '../rules/presets.js';
import { FACILITIES, SEVERITIES } from '../sinks/syslog-message.js';
import { parseSinkUrl, SinkSpecError, type SinkSpec } from '../sinks/index.js';
import { parseListen, type MetricsListen } from '../metrics/index.js';
import { JSON_RECORDS } from '../shape/json.js';
import { ALERT_KINDS } from '../watch/alert.js';
import { checkTuning, type AllowRule, type WatchTuning } from '../watch/tuning.js';

export const DEFAULT_CONFIG_PATH = '/etc/linux-audit/config.json';

export interface AgentConfig {
  mode: 'unicast' | 'multicast' | 'auto';
  rules: string[];
  rulesFile?: string;
  presets: PresetName[];
  filter: EventFilter;
  sinks: SinkSpec[];
  bufferBytes?: number;
  queueLimit?: number;
  backlogLimit?: number;
  /** Docker's or podman's API sockets to ask for container names ([] for none; default: the usual paths). */
  runtimeSockets?: string[];
  /** containerd's sockets ([] for none; default: the usual paths). */
  containerdSockets?: string[];
  /** Where the host's /proc is (default /proc; in a container with hostPID, /proc too, or a mount of the host's). */
  procRoot?: string;
  /** Seconds between health lines on stderr; 0 for none. */
  healthSeconds: number;
  /** Where to serve Prometheus metrics and /healthz ("127.0.0.1:9464"). */
  metrics?: MetricsListen;
  /** At most one LOSS notice to the sinks per this many seconds; 0 for none. */
  lossIntervalSeconds: number;
  /** Record types left out of events: `TYPE`, or `TYPE:IF` (only when the event has a record of type IF). */
  dropRecords: string[];
  /** Leave rules and auditing on at exit for the next start of the same agent to take over (a planned restart). */
  keepRulesOnExit: boolean;
  /** At most this many events a second per rule key; the rest held back and counted. */
  rateLimitPerKey?: number;
  /** At most this many bytes of command line (EXECVE arguments) and of title (PROCTITLE) per event; the rest cut, marked and counted. */
  maxArgvBytes?: number;
}

export class ConfigError extends Error {
  readonly code = 'ERR_AUDIT_CONFIG';
}

type Check = (value: unknown, at: string) => unknown;

const fail = (at: string, want: string, value: unknown): never => {
  throw new ConfigError(`${at}: expected ${want}, got ${describe(value)}`);
};

/** A value named in one short line: a list or object by its kind (it may be nested 100,000 deep), text cut at 80 characters. */
function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return String(value);
}
const str: Check = (v, at) => (typeof v === 'string' ? v : fail(at, 'a string', v));
const bool: Check = (v, at) => (typeof v === 'boolean' ? v : fail(at, 'true or false', v));
const int =
  (min: number, max: number): Check =>
  (v, at) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? v : fail(at, `a whole number from ${min} to ${max}`, v);
const oneOf =
  (allowed: readonly string[]): Check =>
  (v, at) =>
    typeof v === 'string' && allowed.includes(v) ? v : fail(at, `one of ${allowed.join(', ')}`, v);
const list =
  (item: Check): Check =>
  (v, at) =>
    Array.isArray(v) ? v.map((x, i) => item(x, `${at}[${i}]`)) : fail(at, 'a list', v);
const strOrInt: Check = (v, at) => (typeof v === 'string' || Number.isInteger(v) ? v : fail(at, 'a string or a whole number', v));

/** An object with only the keys given; each key's check runs on its value. */
function object(shape: Record<string, Check>, required: string[] = []): Check {
  return (v, at) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(at, 'an object', v);
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, value] of Object.entries(v)) {
      // Own keys only: "constructor" or "__proto__" must not find Object.prototype's.
      const check = Object.hasOwn(shape, k) ? shape[k] : undefined;
      if (!check) throw new ConfigError(`${at}.${JSON.stringify(k).slice(1, -1)}: unknown key; known keys here: ${Object.keys(shape).join(', ')}`);
      out[k] = check(value, `${at}.${k}`);
    }
    for (const k of required) if (!Object.hasOwn(out, k)) throw new ConfigError(`${at}.${k}: missing`);
    return out;
  };
}

const FILTER = object({
  keys: list(str),
  types: list(strOrInt),
  syscalls: list(strOrInt),
  pids: list(int(0, 0x7fffffff)),
  uids: list(strOrInt),
  exes: list(str),
  containers: list(str),
  success: bool,
  notKeys: list(str),
  notExes: list(str),
  exeMatch: str,
  notExeMatch: str,
  pathMatch: str,
  notPathMatch: str,
});

const port = int(1, 65535);
const SYSLOG = object(
  {
    type: oneOf(['syslog']),
    transport: oneOf(['udp', 'tcp', 'tls', 'relp', 'relp+tls']),
    host: str,
    port,
    payload: oneOf(['json', 'raw', 'ecs']),
    facility: oneOf(Object.keys(FACILITIES)),
    severity: oneOf(Object.keys(SEVERITIES)),
    failureSeverity: oneOf(Object.keys(SEVERITIES)),
    structuredData: bool,
    hostname: str,
    appName: str,
    spoolBytes: int(0, Number.MAX_SAFE_INTEGER),
    spoolDir: str,
    reconnectMinMs: int(1, 3_600_000),
    reconnectMaxMs: int(1, 3_600_000),
    relpWindow: int(1, 65536),
    tls: object({ ca: str, cert: str, key: str, servername: str, verify: bool }),
    filter: FILTER,
    records: oneOf(JSON_RECORDS),
  },
  ['type', 'transport', 'host'],
);
const FILE = object(
  { type: oneOf(['file']), path: str, format: oneOf(['raw', 'json', 'ecs']), maxBytes: int(0, Number.MAX_SAFE_INTEGER), numLogs: int(1, 999), spoolBytes: int(0, Number.MAX_SAFE_INTEGER), filter: FILTER, records: oneOf(JSON_RECORDS) },
  ['type', 'path'],
);
const NATS = object(
  {
    type: oneOf(['nats']),
    server: str,
    subject: str,
    subjectBy: oneOf(['key', 'container', 'none']),
    stream: str,
    format: oneOf(['json', 'ecs']),
    records: oneOf(JSON_RECORDS),
    spoolBytes: int(0, Number.MAX_SAFE_INTEGER),
    spoolDir: str,
    window: int(1, 65536),
    ackTimeoutMs: int(1, 3_600_000),
    tls: object({ ca: str, cert: str, key: str }),
    user: str,
    password: str,
    filter: FILTER,
  },
  ['type', 'server'],
);
const STDOUT = object({ type: oneOf(['stdout']), format: oneOf(['json', 'text', 'raw', 'ecs']), spoolBytes: int(0, Number.MAX_SAFE_INTEGER), filter: FILTER, records: oneOf(JSON_RECORDS) }, ['type']);

const SINK: Check = (v, at) => {
  if (typeof v === 'string') {
    try {
      return parseSinkUrl(v);
    } catch (e) {
      if (e instanceof SinkSpecError) throw new ConfigError(`${at}: ${e.message.replace(/^--to /, '')}`);
      throw e;
    }
  }
  const type = (v as { type?: unknown } | null)?.type;
  if (type === 'syslog') return SYSLOG(v, at);
  if (type === 'file') return FILE(v, at);
  if (type === 'stdout') return STDOUT(v, at);
  if (type === 'nats') return NATS(v, at);
  return fail(`${at}.type`, 'syslog, file, stdout or nats (or the sink as a URL string, e.g. "relp://logs:2514")', type);
};

const CONFIG = object({
  mode: oneOf(['unicast', 'multicast', 'auto']),
  rules: list(str),
  rulesFile: str,
  presets: list(oneOf(Object.keys(PRESETS))),
  filter: FILTER,
  sinks: list(SINK),
  bufferBytes: int(1024 * 1024, Number.MAX_SAFE_INTEGER),
  queueLimit: int(1, 10_000_000),
  backlogLimit: int(1, 0x7fffffff),
  runtimeSockets: list(str),
  containerdSockets: list(str),
  procRoot: str,
  healthSeconds: int(0, 86_400),
  lossIntervalSeconds: int(0, 86_400),
  dropRecords: list(str),
  keepRulesOnExit: bool,
  rateLimitPerKey: int(1, 10_000_000),
  maxArgvBytes: int(16, 1 << 30),
  metrics: (v, at) => {
    const listen = typeof v === 'string' ? parseListen(v) : undefined;
    return typeof listen === 'object' ? listen : fail(at, 'HOST:PORT, e.g. "127.0.0.1:9464"', v);
  },
});

/** A config from parsed JSON, with defaults; throws ConfigError naming the bad key. */
export function checkConfig(json: unknown, source = 'config'): AgentConfig {
  const c = CONFIG(json, source) as Partial<AgentConfig>;
  return {
    mode: c.mode ?? 'auto',
    rules: c.rules ?? [],
    rulesFile: c.rulesFile,
    presets: c.presets ?? [],
    filter: c.filter ?? {},
    sinks: c.sinks ?? [],
    bufferBytes: c.bufferBytes,
    queueLimit: c.queueLimit,
    backlogLimit: c.backlogLimit,
    runtimeSockets: c.runtimeSockets,
    containerdSockets: c.containerdSockets,
    procRoot: c.procRoot,
    healthSeconds: c.healthSeconds ?? 60,
    metrics: c.metrics,
    lossIntervalSeconds: c.lossIntervalSeconds ?? 10,
    dropRecords: c.dropRecords ?? [],
    keepRulesOnExit: c.keepRulesOnExit ?? false,
    rateLimitPerKey: c.rateLimitPerKey,
    maxArgvBytes: c.maxArgvBytes,
  };
}

/** A config file's JSON, or a ConfigError saying why it could not be read. */
function readJSON(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the config file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file} is not JSON: ${(e as Error).message}`);
  }
}

/** The config file, read and checked. */
export function readConfig(file: string): AgentConfig {
  return checkConfig(readJSON(file), file);
}

// --- the watch's tuning file ------------------------------------------------

const KIND = oneOf(ALERT_KINDS);
const oneOrList =
  (item: Check): Check =>
  (v, at) =>
    Array.isArray(v) ? list(item)(v, at) : item(v, at);
const ALLOW = object({ kind: oneOrList(KIND), exe: oneOrList(str), container: oneOrList(str), image: oneOrList(str), item: oneOrList(str) });
const DETECTORS = object(Object.fromEntries(ALERT_KINDS.map((k) => [k, object({ enabled: bool, severity: oneOf(['low', 'medium', 'high', 'critical']) })])));
const WATCH_CONFIG = object({ allow: list(ALLOW), detectors: DETECTORS, throttleSeconds: int(0, 86_400) });

/** The watch's tuning from its config file (`watch --config`), checked as the agent's is. */
export function readWatchConfig(file: string): WatchTuning {
  const c = WATCH_CONFIG(readJSON(file), file) as { allow?: AllowRule[]; detectors?: WatchTuning['detectors']; throttleSeconds?: number };
  const tuning: WatchTuning = { allow: c.allow, detectors: c.detectors, ...(c.throttleSeconds !== undefined && { throttleMs: c.throttleSeconds * 1000 }) };
  try {
    checkTuning(tuning);
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
  return tuning;
}
