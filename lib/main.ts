#!/usr/bin/env node
// `npm start`: subscribe and print one JSON line per event until Ctrl-C. The
// full command line comes later; this is the live tail in its simplest form.
import { subscribe, type SubscribeMode } from './index.js';

const mode = (process.env.LINUX_AUDIT_MODE ?? 'auto') as SubscribeMode;
const sub = subscribe({ mode, enable: true });
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void sub.close();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

try {
  await sub.ready;
  const s = sub.stats();
  process.stderr.write(`linux-audit: receiving in ${s.mode} mode; Ctrl-C to stop\n`);
  for await (const ev of sub) {
    process.stdout.write(JSON.stringify(ev) + '\n');
  }
  const s2 = sub.stats();
  process.stderr.write(
    `linux-audit: ${s2.events} events, ${s2.records} records; lost: kernel ${s2.kernelLost}, socket overruns ${s2.socketOverruns}, dropped ${s2.dropped}\n`,
  );
} catch (e) {
  process.stderr.write(`linux-audit: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
