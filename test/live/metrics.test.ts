// The Prometheus endpoint during a live run: what it says equals stats() (read
// just before and just after the scrape), and the command serves it with the
// sinks' counters and a liveness answer.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { subscribe } from '../../lib/index.js';
import { serveMetrics } from '../../lib/metrics/index.js';
import type { SubscriptionStats } from '../../lib/subscribe/subscription.js';
import { addRules, deleteRules, describeLive, kernelSnapshot, restoreKernel, type KernelSnapshot } from '../helpers/live.js';
import { CliProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const KEY = `la_metrics_${process.pid}`;

/** `name{labels} value` lines of a Prometheus text page. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

const COUNTERS: Array<[string, keyof SubscriptionStats]> = [
  ['linux_audit_records_total', 'records'],
  ['linux_audit_events_total', 'events'],
  ['linux_audit_received_bytes_total', 'bytes'],
  ['linux_audit_malformed_records_total', 'malformed'],
  ['linux_audit_socket_overruns_total', 'socketOverruns'],
  ['linux_audit_dropped_records_total', 'dropped'],
  ['linux_audit_kernel_lost_total', 'kernelLost'],
  ['linux_audit_incomplete_events_total', 'incomplete'],
  ['linux_audit_cgroup_reads_total', 'cgroupReads'],
];

describeLive('metrics', () => {
  let before: KernelSnapshot;

  beforeAll(async () => {
    before = await kernelSnapshot();
  });
  afterEach(async () => {
    await CliProcess.killAll();
    deleteRules(KEY);
    await restoreKernel(before);
  });
  afterAll(async () => {
    deleteRules(KEY);
    await restoreKernel(before);
  });

  it('the endpoint says what stats() says, counter by counter, during a live run', async () => {
    addRules(KEY, [`-a always,exit -F arch=b64 -S execve -F ppid=${process.pid}`]);
    const sub = subscribe({ mode: 'unicast', enable: true });
    const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, { subscription: () => sub.stats() });
    try {
      await sub.ready;
      const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('receiving (unicast)\n');
      for (let i = 0; i < 20; i++) spawnSync('/bin/true');
      // Read without leaving the loop: a break would close the subscription.
      const events = sub[Symbol.asyncIterator]();
      for (let mine = 0; mine < 20; ) {
        const next = await events.next();
        if (next.done) throw new Error('the subscription ended');
        if (next.value.keys.includes(KEY)) mine++;
      }
      const low = sub.stats();
      const page = samples(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text());
      const high = sub.stats();
      expect(low.events).toBeGreaterThanOrEqual(20);
      for (const [name, field] of COUNTERS) {
        expect(page.get(name), name).toBeGreaterThanOrEqual(low[field] as number);
        expect(page.get(name), name).toBeLessThanOrEqual(high[field] as number);
      }
      expect(page.get('linux_audit_up{mode="unicast"}')).toBe(1);
      expect(page.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      await sub.close();
      await server.close();
    }
    const down = await serveMetrics({ host: '127.0.0.1', port: 0 }, { subscription: () => sub.stats() });
    try {
      expect((await fetch(`http://127.0.0.1:${down.port}/healthz`)).status).toBe(503);
    } finally {
      await down.close();
    }
  });

  it('forward --metrics serves the sinks\' counters and events written, which match what the sink wrote', async () => {
    const dir = tempDir('linux-audit-metrics-');
    const rules = path.join(dir, 'exec.rules');
    fs.writeFileSync(rules, `-a always,exit -F arch=b64 -S execve -F key=${KEY}\n`);
    const out = path.join(dir, 'events.json');
    const agent = new CliProcess(['forward', '--rules', rules, '--key', KEY, '--to', `file:${out}?format=json`, '--metrics', '127.0.0.1:0', '--health', '0']);
    try {
      await agent.waitFor((p) => /metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/.test(p.stderr) && p.stderr.includes('receiving in'), 'forward to start');
      const port = Number(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(agent.stderr)![1]);
      for (let i = 0; i < 10; i++) spawnSync('/bin/true');
      const sink = `linux_audit_sink_delivered_messages_total{sink="file:${out}"}`;
      let page = new Map<string, number>();
      const end = Date.now() + 10_000;
      while (Date.now() < end) {
        page = samples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
        if ((page.get(sink) ?? 0) >= 10) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n').length;
      expect(page.get(sink)).toBeGreaterThanOrEqual(10);
      expect(page.get(sink)).toBeLessThanOrEqual(lines);
      expect(page.get('linux_audit_events_written_total')).toBeGreaterThanOrEqual(page.get(sink)!);
      expect(page.get(`linux_audit_sink_up{sink="file:${out}"}`)).toBe(1);
      expect(page.get(`linux_audit_sink_spool_dropped_messages_total{sink="file:${out}"}`)).toBe(0);
    } finally {
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
