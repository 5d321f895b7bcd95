// forward: the agent. Subscribes, filters, and hands every event to each sink
// (syslog over UDP/TCP/TLS/RELP, files, stdout), with a health line on stderr.
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_CONFIG_PATH, checkConfig, readConfig, type AgentConfig } from '../config/index.js';
import { compileFilter, compileRecordDrop, exclusionsIn, kernelExclusions } from '../filter/index.js';
import { PRESETS } from '../rules/presets.js';
import { parseSinkUrl, type Sink, type SinkSpec, type SinkStats } from '../sinks/index.js';
import type { AuditEvent } from '../assemble/event.js';
import type { EventFilter } from '../filter/index.js';
import type { JsonRecords } from '../shape/json.js';
import type { PresetName } from '../rules/presets.js';
import { LOSS_HELP, LOSS_OPTIONS, METRICS_HELP, METRICS_OPTIONS, metricsFrom, openSinks, sayRecovered, startMetrics, watchLoss, withAgentSignals } from './agent.js';
import { lossCounts, type LossWatch } from '../sinks/loss.js';
import { RateLimit } from '../filter/rate.js';
import { ArgvCap } from '../filter/cap.js';
import type { MetricsServer } from '../metrics/index.js';
import { subscribe } from '../subscribe/subscription.js';
import { AgentReporter } from './agents.js';
import { EXIT, UsageError, integer, list, oneOf, parse, type Parsed } from './args.js';
import { EVENT_OPTIONS, filterFrom, recordsFrom } from './events.js';
import { ENGINE_OPTIONS, engineSocketsFrom } from './engines.js';
import { heartbeat, rulesFromFile } from './tail.js';

export const FORWARD_HELP = `Usage: linux-audit forward [--config FILE] [--to URL]… [options]

Run as an agent: receive the audit stream and send every event to each sink,
until SIGINT or SIGTERM (then flush, restore the kernel, exit 0). A health
line goes to stderr every --health seconds and on SIGUSR1. SIGHUP reads the
config file again: rules, sinks and filters change without a restart (new
rules before old ones go); a file with a mistake is refused, the running
config kept.

      --config FILE   the config file (default ${DEFAULT_CONFIG_PATH} if it exists)
      --to URL        a sink, added to the config's (repeat for several):
                        relp://HOST:2514            acknowledged delivery (rsyslog imrelp)
                        relp+tls://HOST:2514?ca=CA.pem
                        tcp://HOST:514  tls://HOST:6514?ca=CA.pem&cert=C.pem&key=K.pem
                        udp://HOST:514              best effort
                        file:/var/log/linux-audit/audit.log?max=8M&num=5
                        nats://HOST:4222?stream=AUDIT   NATS JetStream, acknowledged; subject
                                                    audit.KEY (by=key|container|none, subject=…)
                        stdout:json|text|raw
                      syslog parameters: payload=json|raw, facility=…, severity=…,
                      failure-severity=…, sd=yes|no, hostname=…, spool=64M (memory)
                      or spool=disk:/var/lib/linux-audit/spool?max=1G (kept across restarts)
      --mode unicast|multicast|auto, --rules FILE|DIR, --preset NAME   as for tail
      --health SECONDS   health line interval (default 60; 0: only on SIGUSR1)
      --keep-rules-on-exit   a planned restart: leave the rules and auditing on at exit for
                         the next forward with this flag and the same config file to take
                         over, so there is no moment without rules (config: "keepRulesOnExit")
      --rate-limit N     at most N events a second per rule key (bursts of N); the rest are
                         held back and counted per key: health line, metrics, LOSS notices
                         (config: "rateLimitPerKey")
      --max-argv-bytes N  at most N bytes of command line (EXECVE arguments) and N of
                         title (PROCTITLE) per event: the first arguments are kept, the
                         records rewritten as the kernel writes them (argc unchanged) and
                         marked (cutBytes, process.argvCutBytes), cuts counted: health
                         line, metrics (config: "maxArgvBytes")
      --drop-record TYPE[:IF]   leave records of TYPE out of events (only when the event has
                         a record of type IF): PROCTITLE:EXECVE (config: "dropRecords")
      --runtime-socket PATH, --containerd-socket PATH   as for tail (config: runtimeSockets, containerdSockets)
${METRICS_HELP} (config: "metrics")
${LOSS_HELP} (config: "lossIntervalSeconds")
  Filters and exclusions as for tail (--key, --type, --syscall, --pid, --uid, --exe,
  --container, --success, --exe-match, --path-match, --not-key, --not-exe, --not-exe-match,
  --not-path-match); a sink in the config file may have its own "filter". --not-exe with a
  full path is also a kernel rule (-A never,exit -F exe=PATH): the kernel does not audit it.`;

export function sinkLine(s: SinkStats): string {
  return `${s.name} ${s.state} delivered ${s.delivered} queued ${s.queued} spool-dropped ${s.spoolDropped} failed ${s.failed} reconnects ${s.reconnects}${s.lastError ? ` (${s.lastError})` : ''}`;
}

/** Settings a reload cannot change under a running subscription: said, and kept until the next start. */
const RESTART_KEYS = ['rateLimitPerKey', 'mode', 'bufferBytes', 'queueLimit', 'backlogLimit', 'runtimeSockets', 'containerdSockets', 'procRoot', 'metrics', 'healthSeconds', 'lossIntervalSeconds', 'keepRulesOnExit'] as const;

/** What the command line adds to every config (at the start and at each reload). */
interface FlagParts {
  to: SinkSpec[];
  records: JsonRecords | undefined;
  filter: EventFilter | undefined;
  rules: string[];
  presets: string[];
  dropRecords: string[];
  maxArgvBytes: number | undefined;
}

function flagParts(values: Parsed['values']): FlagParts {
  const filter = filterFrom(values);
  const given = Object.values(filter).some((v) => (Array.isArray(v) ? v.length > 0 : v !== undefined));
  return {
    to: list(values.to).map(parseSinkUrl),
    records: recordsFrom(values),
    filter: given ? filter : undefined,
    rules: list(values.rules).flatMap(rulesFromFile),
    presets: list(values.preset),
    dropRecords: list(values['drop-record']),
    maxArgvBytes: integer('--max-argv-bytes', values['max-argv-bytes'] as string | undefined, 16, 1 << 30),
  };
}

/** Everything the event loop and the subscription's rules follow, from a config and the flags. */
interface Plan {
  sinkSpecs: SinkSpec[];
  filter: (ev: AuditEvent) => boolean;
  sinkFilters: Array<((ev: AuditEvent) => boolean) | undefined>;
  dropRecords: ((ev: AuditEvent) => void) | undefined;
  maxArgvBytes: number | undefined;
  exclusions: { kernel: string[]; agent: string[] };
  rules: string[];
  presets: PresetName[];
}

function planFrom(config: AgentConfig, flags: FlagParts, configFile: string | undefined): Plan {
  // --records is the default of the sinks that do not say.
  const sinkSpecs = [...config.sinks, ...flags.to].map((s) => (flags.records !== undefined && s.records === undefined ? { ...s, records: flags.records } : s));
  if (sinkSpecs.length === 0) throw new UsageError(`forward needs somewhere to send: --to URL, or "sinks" in ${configFile ?? DEFAULT_CONFIG_PATH}`);
  // Filter flags replace the file's filter.
  const chosen = flags.filter ?? config.filter;
  const presets = [...config.presets, ...flags.presets];
  for (const p of presets) if (!Object.hasOwn(PRESETS, p)) throw new UsageError(`unknown preset "${p}"; presets: ${Object.keys(PRESETS).join(', ')}`);
  return {
    sinkSpecs,
    filter: compileFilter(chosen),
    sinkFilters: sinkSpecs.map((s) => (s.filter !== undefined ? compileFilter(s.filter) : undefined)),
    dropRecords: compileRecordDrop([...config.dropRecords, ...flags.dropRecords]),
    maxArgvBytes: flags.maxArgvBytes ?? config.maxArgvBytes,
    exclusions: exclusionsIn(chosen),
    rules: [...kernelExclusions(chosen), ...config.rules, ...(config.rulesFile !== undefined ? rulesFromFile(config.rulesFile) : []), ...flags.rules],
    presets: presets as PresetName[],
  };
}

/** The same sink, described the same way (a reload keeps its connection and spool). */
function sameSpec(a: SinkSpec | undefined, b: SinkSpec): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

export async function forwardCommand(args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { values } = parse(args, {
    ...EVENT_OPTIONS,
    ...ENGINE_OPTIONS,
    config: { type: 'string', short: 'c' },
    to: { type: 'string', multiple: true },
    mode: { type: 'string' },
    rules: { type: 'string', multiple: true },
    preset: { type: 'string', multiple: true },
    health: { type: 'string' },
    'drop-record': { type: 'string', multiple: true },
    'keep-rules-on-exit': { type: 'boolean' },
    'rate-limit': { type: 'string' },
    'max-argv-bytes': { type: 'string' },
    ...METRICS_OPTIONS,
    ...LOSS_OPTIONS,
  });
  if (values.help) return out(FORWARD_HELP), EXIT.ok;
  const configFile = (values.config as string | undefined) ?? (fs.existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  const config: AgentConfig = configFile !== undefined ? readConfig(configFile) : checkConfig({});
  const flags = flagParts(values);
  let plan = planFrom(config, flags, configFile);
  const mode = oneOf('mode', values.mode as string | undefined, ['unicast', 'multicast', 'auto'] as const) ?? config.mode;
  const healthSeconds = integer('--health', values.health as string | undefined, 0, 86_400) ?? config.healthSeconds;
  const metricsAt = metricsFrom(values.metrics as string | undefined) ?? config.metrics;
  const lossSeconds = integer('--loss-interval', values['loss-interval'] as string | undefined, 0, 86_400) ?? config.lossIntervalSeconds;
  const ratePerKey = integer('--rate-limit', values['rate-limit'] as string | undefined, 1, 10_000_000) ?? config.rateLimitPerKey;
  const rate = ratePerKey !== undefined ? new RateLimit(ratePerKey) : undefined;
  const argvCap = new ArgvCap();
  // The next start takes over what this one leaves only if it is the same agent: the same config file.
  const handover = values['keep-rules-on-exit'] === true || config.keepRulesOnExit ? `forward ${configFile !== undefined ? path.resolve(configFile) : '(no config file)'}` : undefined;

  let sinks = await openSinks(plan.sinkSpecs);
  const sub = subscribe({
    mode,
    enable: true,
    rules: plan.rules,
    presets: plan.presets,
    bufferBytes: config.bufferBytes,
    queueLimit: config.queueLimit,
    backlogLimit: config.backlogLimit,
    handover,
    procRoot: config.procRoot,
    ...engineSocketsFrom(values, config),
  });
  let forwarded = 0;
  let lastForwarded = 0;
  let lastAt = Date.now();
  const health = (): void => {
    const now = Date.now();
    const perSecond = ((forwarded - lastForwarded) * 1000) / Math.max(1, now - lastAt);
    lastForwarded = forwarded;
    lastAt = now;
    err(`${heartbeat('forward', sub.stats(), forwarded)}; ${perSecond.toFixed(0)} events/s${rate ? `; rate limit held back ${rate.total}` : ''}${plan.maxArgvBytes !== undefined || argvCap.events > 0 ? `; argv cut in ${argvCap.events} events (${argvCap.bytes} bytes)` : ''}; ${sinks.map((s) => sinkLine(s.stats())).join('; ')}`);
  };

  // SIGHUP: the config file again. Checked whole first: a mistake is one line
  // and the running config stays. Rules are swapped new-first (no moment
  // without them), sinks that did not change keep their connection and spool.
  let reloading: Promise<void> = Promise.resolve();
  const reload = (): void => {
    reloading = reloading.then(async () => {
      if (configFile === undefined) return err('linux-audit forward: SIGHUP: started without a config file; nothing to read again');
      let next: Plan;
      let nextConfig: AgentConfig;
      try {
        nextConfig = readConfig(configFile);
        next = planFrom(nextConfig, flags, configFile);
      } catch (e) {
        return err(`linux-audit forward: SIGHUP: ${(e as Error).message}; the running config is kept`);
      }
      const restartOnly = RESTART_KEYS.filter((k) => JSON.stringify(nextConfig[k]) !== JSON.stringify(config[k]));
      // Each running sink serves the first new description equal to its own
      // (sinks[i] is always plan.sinkSpecs[i]'s); the rest are opened.
      const unused = sinks.map((sink, i) => ({ sink, spec: plan.sinkSpecs[i] }));
      const reuse = next.sinkSpecs.map((spec) => {
        const k = unused.findIndex((u) => sameSpec(u.spec, spec));
        return k < 0 ? undefined : unused.splice(k, 1)[0].sink;
      });
      let opened: Sink[];
      try {
        opened = await openSinks(next.sinkSpecs.filter((_, i) => reuse[i] === undefined));
      } catch (e) {
        return err(`linux-audit forward: SIGHUP: ${(e as Error).message}; the running config is kept`);
      }
      // The new sinks and filters first, then the rules: an event of a new
      // rule reaches every new sink.
      const before = { sinks, plan };
      let o = 0;
      sinks = reuse.map((s) => s ?? opened[o++]);
      plan = next;
      let changed: { added: string[]; removed: string[] };
      try {
        changed = await sub.updateRules(next.rules, next.presets);
      } catch (e) {
        ({ sinks, plan } = before);
        await Promise.all(opened.map((s) => s.close(0)));
        return err(`linux-audit forward: SIGHUP: ${(e as Error).message}; the running config is kept`);
      }
      const gone = unused.map((u) => u.sink);
      await Promise.all(gone.map((s) => s.close(10_000)));
      err(
        `linux-audit forward: reloaded ${configFile}: rules +${changed.added.length} -${changed.removed.length}; ` +
          `sinks ${sinks.map((s) => s.name).join(', ')}${gone.length > 0 ? ` (closed ${gone.map((s) => s.name).join(', ')})` : ''}` +
          (restartOnly.length > 0 ? `; ${restartOnly.join(', ')} changed: takes effect at the next start` : ''),
      );
    });
  };

  let reporter: AgentReporter | undefined;
  let metrics: MetricsServer | undefined;
  let loss: LossWatch | undefined;
  process.on('SIGHUP', reload);
  try {
    await withAgentSignals(() => void sub.close(), health, healthSeconds, async () => {
      metrics = await startMetrics(metricsAt, { subscription: () => sub.stats(), written: () => forwarded, sinks: () => sinks.map((s) => s.stats()), suppressed: rate && (() => rate.suppressed), argvCut: () => argvCap }, err, 'forward');
      await sub.ready;
      loss = watchLoss(lossSeconds, () => lossCounts(sub.stats(), sinks.map((s) => s.stats()), rate?.suppressed), () => sinks);
      reporter = new AgentReporter('forward', () => ({ stats: sub.stats(), shown: forwarded, sinks: sinks.map((s) => s.stats()), exclusions: plan.exclusions }));
      for (const r of sub.recovered) err(`linux-audit forward: ${r.message}`);
      for (const s of sub.rules.skipped) err(`linux-audit forward: skipped rule ${s.rule} (${s.reason})`);
      err(`linux-audit forward: receiving in ${sub.stats().mode} mode; sending to ${sinks.map((s) => s.name).join(', ')}`);
      sayRecovered(sinks, err, 'forward');
      for await (const ev of sub) {
        // One plan per event: a reload between two events never splits one.
        const p = plan;
        const to = sinks;
        if (!p.filter(ev)) continue;
        if (rate && !rate.allow(ev, Date.now())) continue;
        p.dropRecords?.(ev);
        if (p.maxArgvBytes !== undefined) argvCap.apply(ev, p.maxArgvBytes);
        for (let i = 0; i < to.length; i++) if (p.sinkFilters[i]?.(ev) ?? true) to[i].write(ev);
        forwarded++;
      }
    });
  } finally {
    process.off('SIGHUP', reload);
    await reloading;
    reporter?.stop();
    await sub.close();
    loss?.stop();
    await Promise.all(sinks.map((s) => s.close(10_000)));
    await metrics?.close();
  }
  health();
  return EXIT.ok;
}
