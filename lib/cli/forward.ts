// forward: the agent. Subscribes, filters, and hands every event to each sink
// (syslog over UDP/TCP/TLS/RELP, files, stdout), with a health line on stderr.
import fs from 'node:fs';
import { DEFAULT_CONFIG_PATH, checkConfig, readConfig, type AgentConfig } from '../config/index.js';
import { compileFilter, compileRecordDrop, exclusionsIn, kernelExclusions } from '../filter/index.js';
import { PRESETS } from '../rules/presets.js';
import { parseSinkUrl, type SinkStats } from '../sinks/index.js';
import { LOSS_HELP, LOSS_OPTIONS, METRICS_HELP, METRICS_OPTIONS, metricsFrom, openSinks, startMetrics, watchLoss, withAgentSignals } from './agent.js';
import { lossCounts, type LossWatch } from '../sinks/loss.js';
import type { MetricsServer } from '../metrics/index.js';
import { subscribe } from '../subscribe/subscription.js';
import { AgentReporter } from './agents.js';
import { EXIT, UsageError, integer, list, oneOf, parse } from './args.js';
import { EVENT_OPTIONS, filterFrom, recordsFrom } from './events.js';
import { ENGINE_OPTIONS, engineSocketsFrom } from './engines.js';
import { heartbeat, rulesFromFile } from './tail.js';

export const FORWARD_HELP = `Usage: linux-audit forward [--config FILE] [--to URL]… [options]

Run as an agent: receive the audit stream and send every event to each sink,
until SIGINT or SIGTERM (then flush, restore the kernel, exit 0). A health
line goes to stderr every --health seconds and on SIGUSR1.

      --config FILE   the config file (default ${DEFAULT_CONFIG_PATH} if it exists)
      --to URL        a sink, added to the config's (repeat for several):
                        relp://HOST:2514            acknowledged delivery (rsyslog imrelp)
                        relp+tls://HOST:2514?ca=CA.pem
                        tcp://HOST:514  tls://HOST:6514?ca=CA.pem&cert=C.pem&key=K.pem
                        udp://HOST:514              best effort
                        file:/var/log/linux-audit/audit.log?max=8M&num=5
                        stdout:json|text|raw
                      syslog parameters: payload=json|raw, facility=…, severity=…,
                      failure-severity=…, sd=yes|no, spool=64M, hostname=…
      --mode unicast|multicast|auto, --rules FILE|DIR, --preset NAME   as for tail
      --health SECONDS   health line interval (default 60; 0: only on SIGUSR1)
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
    ...METRICS_OPTIONS,
    ...LOSS_OPTIONS,
  });
  if (values.help) return out(FORWARD_HELP), EXIT.ok;
  const configFile = (values.config as string | undefined) ?? (fs.existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  const config: AgentConfig = configFile !== undefined ? readConfig(configFile) : checkConfig({});
  // --records is the default of the sinks that do not say.
  const records = recordsFrom(values);
  const sinkSpecs = [...config.sinks, ...list(values.to).map(parseSinkUrl)].map((s) => (records !== undefined && s.records === undefined ? { ...s, records } : s));
  if (sinkSpecs.length === 0) throw new UsageError(`forward needs somewhere to send: --to URL, or "sinks" in ${configFile ?? DEFAULT_CONFIG_PATH}`);
  const flagFilter = filterFrom(values);
  const flagsFilter = Object.values(flagFilter).some((v) => (Array.isArray(v) ? v.length > 0 : v !== undefined));
  const chosenFilter = flagsFilter ? flagFilter : config.filter;
  const filter = compileFilter(chosenFilter);
  const sinkFilters = sinkSpecs.map((s) => (s.filter !== undefined ? compileFilter(s.filter) : undefined));
  const dropRecords = compileRecordDrop([...config.dropRecords, ...list(values['drop-record'])]);
  const exclusions = exclusionsIn(chosenFilter);
  const mode = oneOf('mode', values.mode as string | undefined, ['unicast', 'multicast', 'auto'] as const) ?? config.mode;
  const healthSeconds = integer('--health', values.health as string | undefined, 0, 86_400) ?? config.healthSeconds;
  const rules = [...kernelExclusions(chosenFilter), ...config.rules, ...(config.rulesFile !== undefined ? rulesFromFile(config.rulesFile) : []), ...list(values.rules).flatMap(rulesFromFile)];
  const presets = [...config.presets, ...list(values.preset)];
  for (const p of presets) if (!Object.hasOwn(PRESETS, p)) throw new UsageError(`unknown preset "${p}"; presets: ${Object.keys(PRESETS).join(', ')}`);
  const metricsAt = metricsFrom(values.metrics as string | undefined) ?? config.metrics;
  const lossSeconds = integer('--loss-interval', values['loss-interval'] as string | undefined, 0, 86_400) ?? config.lossIntervalSeconds;

  const sinks = await openSinks(sinkSpecs);
  const sub = subscribe({
    mode,
    enable: true,
    rules,
    presets: presets as AgentConfig['presets'],
    bufferBytes: config.bufferBytes,
    queueLimit: config.queueLimit,
    backlogLimit: config.backlogLimit,
    ...engineSocketsFrom(values, config),
  });
  let forwarded = 0;
  let lastForwarded = 0;
  let lastAt = Date.now();
  const health = (): void => {
    const now = Date.now();
    const rate = ((forwarded - lastForwarded) * 1000) / Math.max(1, now - lastAt);
    lastForwarded = forwarded;
    lastAt = now;
    err(`${heartbeat('forward', sub.stats(), forwarded)}; ${rate.toFixed(0)} events/s; ${sinks.map((s) => sinkLine(s.stats())).join('; ')}`);
  };
  let reporter: AgentReporter | undefined;
  let metrics: MetricsServer | undefined;
  let loss: LossWatch | undefined;
  try {
    await withAgentSignals(() => void sub.close(), health, healthSeconds, async () => {
      metrics = await startMetrics(metricsAt, { subscription: () => sub.stats(), written: () => forwarded, sinks: () => sinks.map((s) => s.stats()) }, err, 'forward');
      await sub.ready;
      loss = watchLoss(lossSeconds, () => lossCounts(sub.stats(), sinks.map((s) => s.stats())), sinks);
      reporter = new AgentReporter('forward', () => ({ stats: sub.stats(), shown: forwarded, sinks: sinks.map((s) => s.stats()), exclusions }));
      for (const r of sub.recovered) err(`linux-audit forward: ${r.message}`);
      for (const s of sub.rules.skipped) err(`linux-audit forward: skipped rule ${s.rule} (${s.reason})`);
      err(`linux-audit forward: receiving in ${sub.stats().mode} mode; sending to ${sinks.map((s) => s.name).join(', ')}`);
      for await (const ev of sub) {
        if (!filter(ev)) continue;
        dropRecords?.(ev);
        for (let i = 0; i < sinks.length; i++) if (sinkFilters[i]?.(ev) ?? true) sinks[i].write(ev);
        forwarded++;
      }
    });
  } finally {
    reporter?.stop();
    await sub.close();
    loss?.stop();
    await Promise.all(sinks.map((s) => s.close(10_000)));
    await metrics?.close();
  }
  health();
  return EXIT.ok;
}
