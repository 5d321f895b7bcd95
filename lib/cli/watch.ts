// watch: the container watch as an agent. Alerts (not events) to the same
// sinks as forward; profiles kept in a state file across restarts.
import { parseSinkUrl } from '../sinks/index.js';
import { LOSS_HELP, LOSS_OPTIONS, METRICS_HELP, METRICS_OPTIONS, metricsFrom, openSinks, sayRecovered, startMetrics, watchLoss, withAgentSignals } from './agent.js';
import { lossCounts, type LossWatch } from '../sinks/loss.js';
import type { MetricsServer } from '../metrics/index.js';
import { forgetProfiles, watch, type Watch } from '../watch/watch.js';
import { AgentReporter } from './agents.js';
import { EXIT, UsageError, integer, list, oneOf, parse } from './args.js';
import { sinkLine } from './forward.js';
import { readWatchConfig } from '../config/index.js';
import { statsText } from './tail.js';
import { ENGINE_OPTIONS, ENGINE_OPTIONS_HELP, engineSocketsFrom } from './engines.js';

export const DEFAULT_STATE_PATH = '/var/lib/linux-audit/watch.json';

export const WATCH_HELP = `Usage: linux-audit watch [--to URL]… [--learn DURATION] [--state FILE] [options]
       linux-audit watch --reset [CONTAINER] [--state FILE]

Alert when a container (or the host) does what it has never done: runs a new
program, listens on a new port, connects somewhere new, runs as a new user;
and, always, when it sets the clock, loads a kernel module, mounts, attaches
with ptrace, changes namespaces, touches Docker's configuration or socket, or
runs a program from /tmp, /dev/shm or memory. Each container learns for
--learn after it is first seen. Until SIGINT or SIGTERM; SIGUSR1 prints a
summary of containers, profile sizes and alerts; SIGHUP reads the --config
tuning file again (a file with a mistake is refused, the running tuning kept).
See docs/watch.md.

      --to URL            where alerts go, as for forward (default stdout:text);
                          syslog severity follows the alert's: low notice,
                          medium warning, high err, critical crit
      --learn DURATION    how long each container learns: 90s, 10m, 2h (default 10m)
      --learn-events N    …or until N of its events, if sooner
      --state FILE        profiles kept across restarts (default ${DEFAULT_STATE_PATH})
      --reset [CONTAINER] forget one container's profile (id, or 12+ characters of it), or all; then exit
      --profile-by container|image   one profile per container (default) or per image, so a
                          new replica of a Deployment does not learn again
      --forget-after DURATION   forget profiles of containers not seen for this long (default 24h)
      --config FILE       tuning (JSON): "allow": [{ "kind", "exe", "container", "image", "item" }]
                          cases not to alert on; "detectors": { "KIND": { "enabled", "severity" } };
                          "throttleSeconds": the same kind, container and item at most once per
                          this (default 60), the next one saying how many were held back
      --mode unicast|multicast|auto   as for tail
      --health SECONDS    summary interval on stderr (default 0: only on SIGUSR1)
${METRICS_HELP}
${LOSS_HELP}
${ENGINE_OPTIONS_HELP}`;

/** "90s", "10m", "2h", "500ms", or plain seconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} ${text}: not a duration; write e.g. 90s, 10m or 2h`);
  const n = Number(m[1]);
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']);
}

function summaryLines(w: Watch, alerts: number): string[] {
  const s = w.stats();
  const kinds = Object.entries(s.alerts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `linux-audit watch: ${s.containers} profiles (${s.learning} learning), ${s.watched} watched events, ${alerts} alerts${kinds ? ` (${kinds})` : ''}; ` +
      `unattributed ${s.unattributed}, runtime setup ${s.runtimeSetup}, over cap ${s.overCap}, untracked ${s.untracked}, expired ${s.expired}; ` +
      `not sent: allowed ${s.tuning.allowed}, throttled ${s.tuning.throttled}, detectors off ${s.tuning.disabled}; ${statsText(s.subscription, alerts)}`,
  ];
  for (const c of w.summary()) {
    const items = Object.entries(c.items)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    lines.push(`  ${c.id === 'host' || c.id.startsWith('image:') ? c.id : `${c.runtime} ${c.id.slice(0, 12)}`}${c.name ? ` ${c.name}` : ''}: ${c.learning ? `learning until ${c.learnUntil}` : 'watching'}; ${items}`);
  }
  return lines;
}

export async function watchCommand(args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      to: { type: 'string', multiple: true },
      learn: { type: 'string' },
      'learn-events': { type: 'string' },
      state: { type: 'string' },
      reset: { type: 'boolean' },
      mode: { type: 'string' },
      health: { type: 'string' },
      'profile-by': { type: 'string' },
      'forget-after': { type: 'string' },
      config: { type: 'string', short: 'c' },
      ...ENGINE_OPTIONS,
      ...METRICS_OPTIONS,
      ...LOSS_OPTIONS,
    },
    true,
  );
  if (values.help) return out(WATCH_HELP), EXIT.ok;
  const statePath = (values.state as string | undefined) ?? DEFAULT_STATE_PATH;
  if (values.reset) {
    if (positionals.length > 1) throw new UsageError('--reset takes at most one container id');
    const id = positionals[0];
    if (id !== undefined && id.length < 12) throw new UsageError(`--reset ${id}: give the container id, or at least 12 characters of it`);
    const gone = forgetProfiles(statePath, id);
    out(gone.length === 0 ? `no profile matched ${id ?? '(all)'} in ${statePath}` : `forgot ${gone.length} profile${gone.length === 1 ? '' : 's'}: ${gone.join(', ')}`);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (a container id goes with --reset)`);
  const learnMs = values.learn !== undefined ? parseDuration('--learn', values.learn as string) : undefined;
  const learnEvents = integer('--learn-events', values['learn-events'] as string | undefined, 1, Number.MAX_SAFE_INTEGER);
  const mode = oneOf('mode', values.mode as string | undefined, ['unicast', 'multicast', 'auto'] as const);
  const profileBy = oneOf('profile-by', values['profile-by'] as string | undefined, ['container', 'image'] as const);
  const forgetAfterMs = values['forget-after'] !== undefined ? parseDuration('--forget-after', values['forget-after'] as string) : undefined;
  const tuning = values.config !== undefined ? readWatchConfig(values.config as string) : undefined;
  const healthSeconds = integer('--health', values.health as string | undefined, 0, 86_400) ?? 0;
  const specs = list(values.to).map(parseSinkUrl);
  if (specs.length === 0) specs.push(parseSinkUrl('stdout:text'));
  const metricsAt = metricsFrom(values.metrics as string | undefined);
  const lossSeconds = integer('--loss-interval', values['loss-interval'] as string | undefined, 0, 86_400) ?? 10;

  const sinks = await openSinks(specs);
  let w: Watch;
  try {
    w = watch({ statePath, learn: { ms: learnMs, events: learnEvents }, profileBy, forgetAfterMs, tuning, subscribe: { mode, ...engineSocketsFrom(values) } });
  } catch (e) {
    await Promise.all(sinks.map((s) => s.close(0)));
    throw e;
  }
  let alerts = 0;
  const summary = (): void => {
    for (const line of summaryLines(w, alerts)) err(line);
    for (const s of sinks) err(`  ${sinkLine(s.stats())}`);
  };
  // SIGHUP: the tuning file again, checked whole; the throttle's memory and the counts go on.
  const configFile = values.config as string | undefined;
  const retune = (): void => {
    if (configFile === undefined) return err('linux-audit watch: SIGHUP: started without --config; nothing to read again');
    try {
      w.retune(readWatchConfig(configFile));
    } catch (e) {
      return err(`linux-audit watch: SIGHUP: ${(e as Error).message}; the running tuning is kept`);
    }
    err(`linux-audit watch: reloaded ${configFile}`);
  };
  let reporter: AgentReporter | undefined;
  let metrics: MetricsServer | undefined;
  let loss: LossWatch | undefined;
  process.on('SIGHUP', retune);
  try {
    await withAgentSignals(() => void w.close(), summary, healthSeconds, async () => {
      metrics = await startMetrics(metricsAt, { subscription: () => w.subscription.stats(), written: () => alerts, sinks: () => sinks.map((s) => s.stats()), watch: () => w.stats() }, err, 'watch');
      await w.ready;
      loss = watchLoss(lossSeconds, () => lossCounts(w.subscription.stats(), sinks.map((s) => s.stats())), () => sinks);
      const sub = w.subscription;
      reporter = new AgentReporter('watch', () => ({ stats: sub.stats(), shown: alerts, sinks: sinks.map((s) => s.stats()) }));
      for (const r of sub.recovered) err(`linux-audit watch: ${r.message}`);
      for (const s of w.stats().skippedRules) err(`linux-audit watch: skipped rule ${s.rule} (${s.reason})`);
      err(`linux-audit watch: watching in ${sub.stats().mode} mode; ${w.stats().containers} profiles from ${statePath}; alerts to ${sinks.map((s) => s.name).join(', ')}`);
      sayRecovered(sinks, err, 'watch');
      for await (const a of w) {
        for (const s of sinks) s.writeAlert(a);
        alerts++;
      }
    });
  } finally {
    process.off('SIGHUP', retune);
    reporter?.stop();
    await w.close();
    loss?.stop();
    await Promise.all(sinks.map((s) => s.close(10_000)));
    await metrics?.close();
  }
  summary();
  return EXIT.ok;
}
