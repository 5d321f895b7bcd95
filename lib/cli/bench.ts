// bench: the benchmark harness (bench/run.mjs), shipped with the package so
// users can size their hosts: the same scenarios and options as `npm run bench`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, UsageError } from './args.js';

const HARNESS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.mjs');

export const BENCH_HELP = `Usage: linux-audit bench [SCENARIO…] [--seconds N] [--runs N]

Runs the benchmark harness; with no scenario, all of these but soak, churn,
wake, scaling, size and spool, which run only when named. Scenarios:
  live     our subscriber, the minimal C reader and auditd at full rate (root);
           --runs N repeats every consumer N times for medians and min–max
  exec     the same three consumers under an execve storm (root)
  stall    our consumer stops 250 ms every second (root)
  scale    CPU per event as the rate doubles, with an SVG plot (root)
  soak     full rate for --seconds (600: the 10-minute memory check) (root)
  churn    full rate while rules and multicast subscribers come and go (root)
  rules    loading 1,000 rules, beside auditctl -R (root)
  watch    the container watch's CPU per event against subscribe() (root)
  wake     what this machine charges a thread per wake-up and per system
           call: the floor under CPU per event at low rates
  decode, log, format   decoder and output throughput, against libauparse
           (need the project's corpus: LINUX_AUDIT_CORPUS=DIR)
  scaling, size, spool  hostile input's time at n and 4n, bytes of JSON per
           event, a sink's disk spool (size and spool need the corpus too)
Needs cc (and libauparse-dev for log, auditd for live). Every run puts back
the kernel settings and rules it changed. Results: bench/results/*.json.`;

export async function benchCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) return process.stdout.write(BENCH_HELP + '\n'), EXIT.ok;
  if (!fs.existsSync(HARNESS)) throw new UsageError(`the benchmark harness is not installed (${HARNESS} is missing)`);
  const child = spawn(process.execPath, [HARNESS, ...args], { stdio: 'inherit' });
  // The harness restores the kernel on SIGINT itself; we only wait for it.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? EXIT.failed)));
  } finally {
    process.off('SIGINT', ignore);
  }
}
