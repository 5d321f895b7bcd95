// Running tail and forward processes publish their counters in
// /run/linux-audit/<pid>.json, so `linux-audit status` can answer "is the
// agent keeping up, and what has it lost?" without attaching to it.
import fs from 'node:fs';
import path from 'node:path';
import { pidAlive } from '../proc/index.js';
import { runDir } from '../journal/journal.js';
import type { SubscriptionStats } from '../subscribe/subscription.js';
import type { SinkStats } from '../sinks/sink.js';


export interface AgentReport {
  pid: number;
  command: string;
  startedAt: string;
  updatedAt: string;
  stats: SubscriptionStats;
  /** Events written out (after filters). */
  shown: number;
  sinks?: SinkStats[];
  /** Which exclusions the kernel applies (rules) and which the agent does. */
  exclusions?: { kernel: string[]; agent: string[] };
}

/** Writes the report every `intervalMs` (atomically: write, then rename) and removes it on stop. */
export class AgentReporter {
  private readonly file: string;
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();
  private failed = false;

  constructor(
    private readonly command: string,
    private readonly collect: () => Pick<AgentReport, 'stats' | 'shown' | 'sinks' | 'exclusions'>,
    intervalMs = 2000,
  ) {
    this.file = path.join(runDir(), `${process.pid}.json`);
    this.write();
    this.timer = setInterval(() => this.write(), intervalMs);
    this.timer.unref();
  }

  private write(): void {
    if (this.failed) return;
    try {
      fs.mkdirSync(runDir(), { recursive: true, mode: 0o700 });
      const report: AgentReport = { pid: process.pid, command: this.command, startedAt: this.startedAt, updatedAt: new Date().toISOString(), ...this.collect() };
      const tmp = `${this.file}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(report), { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch {
      // Not root, or /run is read-only: the counters still go to stderr on
      // SIGUSR1 and at exit; status just cannot show this agent.
      this.failed = true;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    fs.rmSync(this.file, { force: true });
  }
}

/** Reports of agents still running; files left by a killed agent are removed. */
export function runningAgents(): AgentReport[] {
  let names: string[];
  try {
    names = fs.readdirSync(runDir()).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const out: AgentReport[] = [];
  for (const name of names) {
    const file = path.join(runDir(), name);
    const pid = Number(name.slice(0, -5));
    if (!pidAlive(pid)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    try {
      out.push(JSON.parse(fs.readFileSync(file, 'utf8')) as AgentReport);
    } catch {
      // Being replaced this instant; the next status call reads it.
    }
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/** One line per agent for `status`. */
export function agentLine(a: AgentReport): string {
  const s = a.stats;
  const lost = s.kernelCounters ? String(s.kernelLost) : 'unknown';
  const sinks = (a.sinks ?? []).map((k) => ` ${k.name} ${k.state} delivered=${k.delivered} queued=${k.queued} spool_dropped=${k.spoolDropped} failed=${k.failed}`).join('');
  const age = Math.round((Date.now() - Date.parse(a.updatedAt)) / 1000);
  const x = a.exclusions;
  const excluded = x === undefined ? '' : `${x.kernel.map((r) => ` excluded_by_kernel="${r}"`).join('')}${x.agent.map((r) => ` excluded_by_agent="${r}"`).join('')}`;
  return `agent ${a.pid} ${a.command} ${s.mode ?? 'starting'} since=${a.startedAt} updated=${age}s_ago events=${s.events} shown=${a.shown} lost_kernel=${lost} socket_overruns=${s.socketOverruns} dropped=${s.dropped} queue=${s.queueDepth}${sinks}${excluded}`;
}
