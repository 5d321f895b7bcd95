// tail: live events, filtered and formatted, until Ctrl-C (or --count).
import { compileFilter } from '../filter/index.js';
import { readRuleLines } from '../rules/files.js';
import { parseRuleLine } from '../rules/parse.js';
import { PRESETS, type PresetName } from '../rules/presets.js';
import { subscribe, type Subscription, type SubscriptionStats } from '../subscribe/subscription.js';
import { AgentReporter } from './agents.js';
import { EXIT, UsageError, integer, list, oneOf, parse } from './args.js';
import { EVENT_OPTIONS, EVENT_OPTIONS_HELP, colorFrom, filterFrom, recordsFrom } from './events.js';
import { ENGINE_OPTIONS, ENGINE_OPTIONS_HELP, engineSocketsFrom } from './engines.js';
import { formatEvent } from '../format/index.js';
import { LineWriter, chooseFormat, wantsColor } from './output.js';
import { METRICS_HELP, METRICS_OPTIONS, metricsFrom, startMetrics } from './agent.js';
import type { MetricsServer } from '../metrics/index.js';

export const TAIL_HELP = `Usage: linux-audit tail [options]

Live audit events until Ctrl-C. Registers as the audit daemon (unicast) when
no other holds the kernel's audit pid, else listens to the multicast copy;
turns auditing on if it is off; puts back what it changed when it stops.
Signals: SIGUSR1 prints a line of counters on stderr; SIGINT and SIGTERM
stop cleanly (exit 0).

      --mode unicast|multicast|auto   how to receive (default auto)
      --rules FILE|DIR     install these rules (auditctl syntax) for the run, remove them after
      --preset NAME        the same with a named rule set (${Object.keys(PRESETS).join(', ')})
${EVENT_OPTIONS_HELP}
${ENGINE_OPTIONS_HELP}
${METRICS_HELP}`;

/** The rule lines of a file or rules.d directory, checked here so a mistake names its file and line. */
export function rulesFromFile(target: string): string[] {
  let lines;
  try {
    lines = readRuleLines(target);
  } catch (e) {
    throw new UsageError(`--rules ${target}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  const out: string[] = [];
  for (const l of lines) {
    const c = parseRuleLine(l.text, { file: l.file, line: l.line });
    if (c === undefined) continue;
    if (c.kind !== 'add') {
      throw new UsageError(`${l.file}:${l.line}: tail installs rules only (-a, -A, -w); "${l.text.trim()}" changes the kernel's settings: use linux-audit rules load for it`);
    }
    out.push(l.text);
  }
  return out;
}

/** A subscription's counters in words: what was received, and every place something was lost. */
export function statsText(s: SubscriptionStats, shown: number): string {
  const lost = s.kernelCounters ? String(s.kernelLost) : 'unknown (no CAP_AUDIT_CONTROL)';
  return (
    `${s.mode ?? 'starting'}; ${s.events} events (${shown} shown), ${s.records} records, ${s.malformed} malformed; ` +
    `lost: kernel ${lost}, socket overruns ${s.socketOverruns}, dropped ${s.dropped}; queue ${s.queueDepth}, buffer ${s.pendingBytes} bytes`
  );
}

export function heartbeat(command: string, s: SubscriptionStats, shown: number): string {
  return `linux-audit ${command}: ${statsText(s, shown)}`;
}

export async function tailCommand(args: string[], out: NodeJS.WriteStream, err: (line: string) => void): Promise<number> {
  const { values } = parse(args, {
    ...EVENT_OPTIONS,
    ...ENGINE_OPTIONS,
    mode: { type: 'string' },
    rules: { type: 'string', multiple: true },
    preset: { type: 'string', multiple: true },
    ...METRICS_OPTIONS,
  });
  if (values.help) return out.write(TAIL_HELP + '\n'), EXIT.ok;
  const filter = compileFilter(filterFrom(values));
  const format = chooseFormat(values.format as string | undefined, out);
  const color = wantsColor(out, colorFrom(values));
  const records = recordsFrom(values) ?? 'full';
  const count = integer('--count', values.count as string | undefined, 1);
  const mode = oneOf('mode', values.mode as string | undefined, ['unicast', 'multicast', 'auto'] as const) ?? 'auto';
  const presets = list(values.preset);
  for (const p of presets) if (!Object.hasOwn(PRESETS, p)) throw new UsageError(`unknown preset "${p}"; presets: ${Object.keys(PRESETS).join(', ')}`);
  const rules = list(values.rules).flatMap(rulesFromFile);
  const metricsAt = metricsFrom(values.metrics as string | undefined);

  const sub: Subscription = subscribe({ mode, enable: true, rules, presets: presets as PresetName[], ...engineSocketsFrom(values) });
  const writer = new LineWriter(out);
  let shown = 0;
  const stop = (): void => void sub.close();
  const beat = (): void => err(heartbeat('tail', sub.stats(), shown));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGUSR1', beat);
  let reporter: AgentReporter | undefined;
  let metrics: MetricsServer | undefined;
  try {
    metrics = await startMetrics(metricsAt, { subscription: () => sub.stats(), written: () => shown }, err, 'tail');
    await sub.ready;
    reporter = new AgentReporter('tail', () => ({ stats: sub.stats(), shown }));
    for (const r of sub.recovered) err(`linux-audit tail: ${r.message}`);
    for (const s of sub.rules.skipped) err(`linux-audit tail: skipped rule ${s.rule} (${s.reason})`);
    err(`linux-audit tail: receiving in ${sub.stats().mode} mode; Ctrl-C to stop`);
    for await (const ev of sub) {
      if (!filter(ev)) continue;
      await writer.write(formatEvent(ev, format, color, records));
      shown++;
      if (writer.closed || (count !== undefined && shown >= count)) break;
    }
    await writer.finish();
  } finally {
    reporter?.stop();
    await metrics?.close();
    await sub.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.off('SIGUSR1', beat);
  }
  err(heartbeat('tail', sub.stats(), shown));
  return EXIT.ok;
}
