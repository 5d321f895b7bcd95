// status, enable, disable, backlog, rate: the kernel's audit settings, as
// `auditctl -s`, `-e`, `-b` and `-r` show and change them.
import { AuditClient } from '../client/client.js';
import type { AuditStatus } from '../client/status.js';
import { FEATURE } from '../constants/generated.js';
import { processName } from '../proc/index.js';
import { agentLine, runningAgents } from './agents.js';
import { EXIT, UsageError, integer, parse } from './args.js';

export const STATUS_HELP = `Usage: linux-audit status [--json]

The kernel's audit status, in auditctl -s's words and order, then the
process registered as the audit daemon (pid_comm) when there is one, then a
line per running linux-audit tail or forward with its counters: events,
lost (kernel, socket overruns, dropped), queue, and each sink's state.
  --json   one JSON object instead`;

export const SETTING_HELP = {
  enable: `Usage: linux-audit enable

Turn kernel auditing on (auditctl -e 1). Locking it (-e 2) is not offered:
it cannot be undone until reboot; use rules load with a file that says -e 2.`,
  disable: `Usage: linux-audit disable

Turn kernel auditing off (auditctl -e 0). Rules stay loaded.`,
  backlog: `Usage: linux-audit backlog N [--wait-time JIFFIES]

Set the kernel's backlog_limit (auditctl -b N): records the kernel queues
for the audit daemon before it loses them or makes audited tasks wait.
  --wait-time J   also set backlog_wait_time (auditctl --backlog_wait_time)`,
  rate: `Usage: linux-audit rate N

Set the kernel's rate_limit (auditctl -r N): records per second, 0 for none.`,
} as const;

export function statusLines(s: AuditStatus, features: { features: number; lock: number } | undefined): string[] {
  const lines = [
    `enabled ${s.enabled}`,
    `failure ${s.failure}`,
    `pid ${s.pid}`,
    `rate_limit ${s.rateLimit}`,
    `backlog_limit ${s.backlogLimit}`,
    `lost ${s.lost}`,
    `backlog ${s.backlog}`,
  ];
  if (s.backlogWaitTime !== undefined) lines.push(`backlog_wait_time ${s.backlogWaitTime}`);
  if (s.backlogWaitTimeActual !== undefined) lines.push(`backlog_wait_time_actual ${s.backlogWaitTimeActual}`);
  if (features) {
    const bit = 1 << FEATURE.LOGINUID_IMMUTABLE;
    lines.push(`loginuid_immutable ${features.features & bit ? 1 : 0} ${features.lock & bit ? 'locked' : 'unlocked'}`);
  }
  return lines;
}

export async function statusCommand(args: string[], out: (line: string) => void): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' } });
  if (values.help) return out(STATUS_HELP), EXIT.ok;
  const client = await AuditClient.open();
  try {
    const s = await client.getStatus();
    // Kernels before 3.13 have no features; status must still work there.
    const features = await client.getFeatures().catch(() => undefined);
    const comm = s.pid !== 0 ? processName(s.pid) : undefined;
    const agents = runningAgents();
    if (values.json) {
      out(JSON.stringify({ ...s, pidComm: comm, loginuidImmutable: features ? (features.features >> FEATURE.LOGINUID_IMMUTABLE) & 1 : undefined, agents }));
    } else {
      for (const line of statusLines(s, features)) out(line);
      if (comm !== undefined) out(`pid_comm ${comm}`);
      for (const a of agents) out(agentLine(a));
    }
    return EXIT.ok;
  } finally {
    client.close();
  }
}

export async function settingCommand(name: keyof typeof SETTING_HELP, args: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parse(args, name === 'backlog' ? { 'wait-time': { type: 'string' } } : {}, true);
  if (values.help) return out(SETTING_HELP[name]), EXIT.ok;
  const wantsNumber = name === 'backlog' || name === 'rate';
  if (wantsNumber ? positionals.length !== 1 : positionals.length !== 0) {
    throw new UsageError(wantsNumber ? `${name} wants one number, e.g. linux-audit ${name} 8192` : `${name} takes no arguments`);
  }
  const client = await AuditClient.open();
  try {
    switch (name) {
      case 'enable':
        await client.setEnabled(1);
        break;
      case 'disable':
        await client.setEnabled(0);
        break;
      case 'backlog': {
        const wait = integer('--wait-time', values['wait-time'] as string | undefined, 0, 600_000);
        await client.setBacklogLimit(integer('backlog', positionals[0], 1)!);
        if (wait !== undefined) await client.setBacklogWaitTime(wait);
        break;
      }
      case 'rate':
        await client.setRateLimit(integer('rate', positionals[0])!);
        break;
    }
    return EXIT.ok;
  } finally {
    client.close();
  }
}
