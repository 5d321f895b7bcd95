// What forward and watch share: sinks made all or none, and a run with
// SIGINT/SIGTERM (stop), SIGUSR1 and a timer (report), undone after.
import { createSink, type Sink, type SinkSpec } from '../sinks/index.js';

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
