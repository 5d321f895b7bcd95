// The agent's counters where monitoring looks: a Prometheus endpoint
// (prom-client, the registry and text format the Node ecosystem uses), and a
// health answer for liveness probes. Values are read from the same stats()
// the health line and `status` print, at scrape time: nothing is counted twice.
import http from 'node:http';
import type { Counter, Gauge, Registry } from 'prom-client';
import type { SubscriptionStats } from '../subscribe/subscription.js';
import type { SinkStats } from '../sinks/sink.js';
import type { WatchStats } from '../watch/watch.js';

/** Where the numbers come from; each is called at every scrape. */
export interface MetricsSource {
  subscription: () => SubscriptionStats;
  /** Events the command wrote out, after its filters (forward, tail). */
  written?: () => number;
  sinks?: () => SinkStats[];
  watch?: () => WatchStats;
  /** Events the rate limit held back, by rule key. */
  suppressed?: () => ReadonlyMap<string, number>;
  /** Events whose command line or title the argv cap cut, and the bytes left out. */
  argvCut?: () => { events: number; bytes: number };
}

export interface MetricsListen {
  host: string;
  /** 0 picks a free port (the server's `port` says which). */
  port: number;
}

/** `HOST:PORT`, `[V6]:PORT` or `:PORT` (127.0.0.1); the message says what is wrong. */
export function parseListen(text: string): MetricsListen | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return `expected HOST:PORT (e.g. 127.0.0.1:9464), got "${text.slice(0, 80)}"`;
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is past 65535`;
  return { host: m[1] ?? (m[2] === '' ? '127.0.0.1' : m[2]), port };
}

type Read = (s: SubscriptionStats) => number;

/** Subscription counters: name (without the linux_audit_ prefix and _total), help, value. */
const SUBSCRIPTION_COUNTERS: Array<[string, string, Read]> = [
  ['records', 'Records received from the kernel (EOE included).', (s) => s.records],
  ['events', 'Events assembled and handed to the consumer.', (s) => s.events],
  ['events_filtered', 'Events left out by the key and type filters (asked for, not loss).', (s) => s.filtered],
  ['received_bytes', 'Bytes received from the kernel, netlink headers included.', (s) => s.bytes],
  ['malformed_records', 'Records that could not be read as the kernel writes them (delivered, marked).', (s) => s.malformed],
  ['socket_overruns', 'Times the socket buffer overflowed (ENOBUFS): records the kernel could not hand over.', (s) => s.socketOverruns],
  ['dropped_records', 'Records read and discarded because the consumer fell behind.', (s) => s.dropped],
  ['spoofed_datagrams', 'Datagrams not from the kernel, discarded.', (s) => s.spoofed],
  ['truncated_records', 'Records longer than a receive slot, delivered truncated.', (s) => s.truncated],
  ['undelivered_events', 'Events queued at close that the consumer did not read.', (s) => s.undelivered],
  ['incomplete_events', 'Events handed out before their end record arrived.', (s) => s.incomplete],
  ['cut_records', 'Records left out of events past the per-event bound.', (s) => s.recordsCut],
  ['container_unknown_events', 'Events whose container could not be told.', (s) => s.containerUnknown],
  ['cgroup_reads', 'Files under /proc read to place events in containers.', (s) => s.cgroupReads],
  ['serial_gaps', 'Serial numbers skipped between events (informative, not loss).', (s) => s.serialGaps],
];

const SUBSCRIPTION_GAUGES: Array<[string, string, Read]> = [
  ['queue_depth', 'Events waiting for the consumer now.', (s) => s.queueDepth],
  ['events_in_flight', 'Events waiting for more records now.', (s) => s.inFlight],
  ['pending_bytes', 'Received bytes waiting in the native buffer now.', (s) => s.pendingBytes],
  ['pending_bytes_peak', 'The most received bytes that have waited in the native buffer.', (s) => s.peakPendingBytes],
];

/** A registry holding every counter we keep, read from `source` at each scrape. */
function metricsRegistry(prom: typeof import('prom-client'), source: MetricsSource): Registry {
  const { Counter, Gauge, Registry, collectDefaultMetrics } = prom;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counter = (name: string, help: string, labelNames: string[], collect: (c: Counter<string>) => void): void => {
    // A counter's collect sets the value the agent already counts: reset, then
    // add it (prom-client has no set() for counters).
    new Counter({
      name: `linux_audit_${name}_total`,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge<string>) => void): void => {
    new Gauge({
      name: `linux_audit_${name}`,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });
  };

  for (const [name, help, read] of SUBSCRIPTION_COUNTERS) counter(name, help, [], (c) => c.inc(read(source.subscription())));
  for (const [name, help, read] of SUBSCRIPTION_GAUGES) gauge(name, help, [], (g) => g.set(read(source.subscription())));
  // Without CAP_AUDIT_CONTROL a multicast listener cannot read the kernel's
  // counters: no sample then, rather than a 0 that says nothing was lost.
  counter('kernel_lost', "Events the kernel lost since the agent started (its 'lost' counter).", [], (c) => {
    const s = source.subscription();
    if (s.kernelCounters) c.inc(s.kernelLost);
  });
  gauge('kernel_backlog', "The kernel's backlog of records for the daemon at the last poll.", [], (g) => {
    const s = source.subscription();
    if (s.kernelCounters) g.set(s.kernelBacklog);
  });
  gauge('up', '1 while the subscription is receiving (unicast or multicast), 0 otherwise.', ['mode'], (g) => {
    const s = source.subscription();
    g.set({ mode: s.mode ?? 'none' }, s.receiving ? 1 : 0);
  });

  const written = source.written;
  if (written) counter('events_written', 'Events the command wrote out, after its filters.', [], (c) => c.inc(written()));

  const suppressed = source.suppressed;
  if (suppressed) {
    counter('events_suppressed', 'Events the rate limit held back, by rule key.', ['key'], (c) => {
      for (const [key, n] of suppressed()) c.inc({ key }, n);
    });
  }

  const argvCut = source.argvCut;
  if (argvCut) {
    counter('argv_cut_events', 'Events whose command line or title the argv cap (--max-argv-bytes) cut.', [], (c) => c.inc(argvCut().events));
    counter('argv_cut_bytes', 'Bytes of command line and title the argv cap left out.', [], (c) => c.inc(argvCut().bytes));
  }

  const sinks = source.sinks;
  if (sinks) {
    const sinkCounter = (name: string, help: string, read: (s: SinkStats) => number): void =>
      counter(name, help, ['sink'], (c) => {
        for (const s of sinks()) c.inc({ sink: s.name }, read(s));
      });
    const sinkGauge = (name: string, help: string, read: (s: SinkStats) => number): void =>
      gauge(name, help, ['sink'], (g) => {
        for (const s of sinks()) g.set({ sink: s.name }, read(s));
      });
    sinkCounter('sink_delivered_messages', 'Messages the receiver took (RELP acknowledged, written, sent).', (s) => s.delivered);
    sinkCounter('sink_spool_dropped_messages', 'Messages dropped because the spool was full.', (s) => s.spoolDropped);
    sinkCounter('sink_failed_messages', 'Messages dropped for another reason (too large, refused, queued at close).', (s) => s.failed);
    sinkCounter('sink_reconnects', 'Connections made after the first.', (s) => s.reconnects);
    sinkGauge('sink_queued_messages', 'Messages waiting in the spool now.', (s) => s.queued);
    sinkGauge('sink_queued_bytes', 'Bytes waiting in the spool now.', (s) => s.queuedBytes);
    sinkGauge('sink_up', '1 while the sink is connected (or its file open), 0 otherwise.', (s) => (s.state === 'connected' || s.state === 'open' ? 1 : 0));
  }

  const watch = source.watch;
  if (watch) {
    counter('watch_alerts', 'Alerts raised, by kind.', ['kind'], (c) => {
      for (const [kind, n] of Object.entries(watch().alerts)) c.inc({ kind }, n);
    });
    counter('watch_events', 'Events the watch inspected.', [], (c) => c.inc(watch().watched));
    counter('watch_alerts_not_sent', 'Alerts raised but not sent, by why: allowed, throttled, disabled.', ['why'], (c) => {
      const t = watch().tuning;
      c.inc({ why: 'allowed' }, t.allowed);
      c.inc({ why: 'throttled' }, t.throttled);
      c.inc({ why: 'disabled' }, t.disabled);
    });
    counter('watch_runtime_setup', "Calls of a container runtime's own setup, recognised and not alerted on.", [], (c) => c.inc(watch().runtimeSetup));
    gauge('watch_profiles', 'Profiles kept (containers, images or the host).', [], (g) => g.set(watch().containers));
    gauge('watch_profiles_learning', 'Profiles still learning.', [], (g) => g.set(watch().learning));
  }
  return registry;
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serve GET /metrics (Prometheus text format) and GET /healthz (200 while the
 * subscription receives, 503 before and after: a liveness probe's answer).
 */
export async function serveMetrics(listen: MetricsListen, source: MetricsSource): Promise<MetricsServer> {
  // prom-client, and the OpenTelemetry API it loads, load when metrics are
  // served, not with every command that could serve them (docs/architecture.md).
  const registry = metricsRegistry(await import('prom-client'), source);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
      );
    } else if (url === '/healthz') {
      const s = source.subscription();
      res.writeHead(s.receiving ? 200 : 503, { 'content-type': 'text/plain' }).end(s.receiving ? `receiving (${s.mode})\n` : 'not receiving\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics or /healthz\n');
    }
  });
  // A scrape must never keep the agent alive, nor a slow client hold a socket.
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : listen.port;
  return {
    host: listen.host,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
