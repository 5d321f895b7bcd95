// What forward and watch share: sinks made all or none, and a run with
// SIGINT/SIGTERM (stop), SIGUSR1 and a timer (report), undone after.
import { createSink, type Sink, type SinkSpec } from '../sinks/index.js';
import { parseListen, serveMetrics, type MetricsListen, type MetricsServer, type MetricsSource } from '../metrics/index.js';
import { UsageError } from './args.js';
import { LossWatch, type LossCounts } from '../sinks/loss.js';

export const METRICS_OPTIONS = { metrics: { type: 'string' } } as const;
export const LOSS_OPTIONS = { 'loss-interval': { type: 'string' } } as const;
export const METRICS_HELP = `      --metrics HOST:PORT   Prometheus metrics at http://HOST:PORT/metrics, and /healthz
                          (200 while receiving) for a liveness probe; :PORT is 127.0.0.1`;
export const LOSS_HELP = `      --loss-interval SECONDS   when a loss counter moves (kernel, overruns, dropped, a
                          sink's spool), one LOSS notice to every sink, at most this often
                          (default 10; 0: never)`;

/** Start the loss notices (interval 0: none); stop() sends the last interval's. */
export function watchLoss(intervalSeconds: number, read: () => LossCounts, sinks: () => Sink[]): LossWatch | undefined {
  if (intervalSeconds === 0) return undefined;
  return new LossWatch(read, (n) => {
    for (const s of sinks()) s.writeNotice(n);
  }, intervalSeconds * 1000);
}

/** --metrics, checked: a wrong address is a usage error naming it. */
export function metricsFrom(value: string | undefined): MetricsListen | undefined {
  if (value === undefined) return undefined;
  const listen = parseListen(value);
  if (typeof listen === 'string') throw new UsageError(`--metrics ${listen}`);
  return listen;
}

/** Start the endpoint when asked, and say where it is. */
export async function startMetrics(listen: MetricsListen | undefined, source: MetricsSource, err: (line: string) => void, command: string): Promise<MetricsServer | undefined> {
  if (listen === undefined) return undefined;
  const server = await serveMetrics(listen, source);
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  err(`linux-audit ${command}: metrics at http://${host}:${server.port}/metrics`);
  return server;
}

/** Every sink, or none: sinks already made hold sockets that would keep the process alive. */
export async function openSinks(specs: SinkSpec[]): Promise<Sink[]> {
  const sinks: Sink[] = [];
  try {
    for (const spec of specs) sinks.push(createSink(spec));
  } catch (e) {
    await Promise.all(sinks.map((s) => s.close(0)));
    throw e;
  }
  return sinks;
}

/** Say what the sinks' disk spools held at start: an operator should know a replay is under way, and what a crash cut. */
export function sayRecovered(sinks: Sink[], err: (line: string) => void, command: string): void {
  for (const s of sinks) {
    const r = s.recovered;
    if (r === undefined || (r.messages === 0 && r.tornBytes === 0)) continue;
    err(
      `linux-audit ${command}: ${s.name}: ${r.messages} messages from an earlier run in the disk spool ${r.dir}, sent first` +
        (r.tornBytes > 0 ? `; ${r.tornBytes} bytes of a message cut short by a crash were dropped` : ''),
    );
  }
}

/** Run `body` with the agent's signals: SIGINT and SIGTERM call `stop`, SIGUSR1 and every `reportSeconds` (0: never) call `report`. */
export async function withAgentSignals(stop: () => void, report: () => void, reportSeconds: number, body: () => Promise<void>): Promise<void> {
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGUSR1', report);
  const timer = reportSeconds > 0 ? setInterval(report, reportSeconds * 1000) : undefined;
  timer?.unref();
  try {
    await body();
  } finally {
    clearInterval(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.off('SIGUSR1', report);
  }
}
