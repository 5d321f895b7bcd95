// containerd's own API (gRPC on its socket), for what its containers are:
// the labels the Kubernetes CRI plugin writes (pod, namespace, container
// name) and the image; and, from its event stream, the pids of the processes
// it started in each container (a task's init, every exec). That last one
// names the container of a process `kubectl exec` or `docker exec` ran even
// when it had exited before its cgroup could be read.
//
// The protocol is gRPC over HTTP/2: @grpc/grpc-js speaks it, and
// @grpc/proto-loader reads containerd's published definitions (trimmed to
// what is used: proto/containerd/). Lookups run in the background, bounded
// and cached; an event never waits for one.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { ContainerDetails } from './runtime.js';

const require = createRequire(import.meta.url);
type Grpc = typeof import('@grpc/grpc-js');
type ProtoLoader = typeof import('@grpc/proto-loader');
type Protobuf = typeof import('protobufjs');

const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto', 'containerd');

export interface ContainerdClientOptions {
  /** containerd sockets to ask, every one that exists. Default: the system's and Docker's managed one. */
  sockets?: string[];
  /** Per-request timeout. Default 1000 ms. */
  timeoutMs?: number;
  /** Containers remembered (answers and misses). Default 1024. */
  maxEntries?: number;
  /** Processes remembered from the event stream. Default 8192. */
  maxPids?: number;
}

export const DEFAULT_CONTAINERD_SOCKETS = ['/run/containerd/containerd.sock', '/run/docker/containerd/containerd.sock', '/var/run/docker/containerd/containerd.sock'];

/**
 * A process containerd started in a container: the container, the containerd
 * namespace it lives in, and when it lived (ms since the epoch), since a pid
 * is reused once its process has gone.
 */
export interface PidOwner {
  id: string;
  namespace: string;
  /** When containerd published the start (after the process began). */
  started: number;
  /** When it exited, once containerd has said so. */
  exited?: number;
}

// A process's first audit events come before containerd publishes its start
// (the exec is already done when the shim reports it), and its last ones up to
// a moment after the exit it reports; the window allows for that and for the
// two clocks' reading of the same wall time.
const START_SLACK_MS = 5_000;
const EXIT_SLACK_MS = 1_000;

interface Connection {
  socket: string;
  containers: import('@grpc/grpc-js').Client & Record<string, (...a: unknown[]) => unknown>;
  namespaces: import('@grpc/grpc-js').Client & Record<string, (...a: unknown[]) => unknown>;
  events: import('@grpc/grpc-js').Client & Record<string, (...a: unknown[]) => unknown>;
  stream?: { cancel(): void };
}

/** The details the CRI plugin's labels and containerd's record hold. */
export function detailsFromContainerd(container: { labels?: Record<string, string>; image?: string }): ContainerDetails {
  const labels = container.labels ?? {};
  const out: ContainerDetails = {};
  if (container.image) out.image = container.image;
  if (labels['io.kubernetes.pod.name']) out.pod = labels['io.kubernetes.pod.name'];
  if (labels['io.kubernetes.pod.namespace']) out.namespace = labels['io.kubernetes.pod.namespace'];
  if (labels['io.kubernetes.pod.uid']) out.podUid = labels['io.kubernetes.pod.uid'];
  if (labels['io.kubernetes.container.name']) {
    out.containerName = labels['io.kubernetes.container.name'];
    out.name = labels['io.kubernetes.container.name'];
  }
  return out;
}

interface Timestamp {
  seconds?: number;
  nanos?: number;
}

interface Envelope {
  timestamp?: Timestamp;
  namespace: string;
  topic: string;
  event?: { value?: Buffer };
}

interface TaskEvent {
  container_id?: string;
  pid?: number;
  exited_at?: Timestamp;
}

function millis(t: Timestamp | undefined): number | undefined {
  return t?.seconds ? t.seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined;
}

export class ContainerdClient {
  private readonly timeoutMs: number;
  private readonly maxEntries: number;
  private readonly maxPids: number;
  private readonly connections: Connection[] = [];
  private readonly cache = new Map<string, ContainerDetails | null>();
  private readonly inFlight = new Map<string, Promise<ContainerDetails | null>>();
  private readonly pids = new Map<number, PidOwner>();
  private closed = false;
  private grpc: Grpc | undefined;
  private taskStart: import('protobufjs').Type | undefined;
  private taskExec: import('protobufjs').Type | undefined;
  private taskExit: import('protobufjs').Type | undefined;
  readonly counts = { requests: 0, failures: 0, events: 0 };

  constructor(options: ContainerdClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 1024);
    this.maxPids = Math.max(1, options.maxPids ?? 8192);
    const sockets = (options.sockets ?? DEFAULT_CONTAINERD_SOCKETS).filter((s) => fs.existsSync(s));
    if (sockets.length === 0) return;
    const grpc = (this.grpc = require('@grpc/grpc-js') as Grpc);
    const loader = require('@grpc/proto-loader') as ProtoLoader;
    const definition = loader.loadSync(['containers.proto', 'namespaces.proto', 'events.proto'].map((f) => path.join(PROTO_DIR, f)), {
      keepCase: true,
      defaults: true,
      longs: Number,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      containerd: { services: Record<string, { v1: Record<string, new (address: string, creds: unknown) => Connection['containers']> }> };
    };
    const protobuf = require('protobufjs') as Protobuf;
    const tasks = new protobuf.Root().loadSync(path.join(PROTO_DIR, 'task.proto'), { keepCase: true });
    this.taskStart = tasks.lookupType('containerd.events.TaskStart');
    this.taskExec = tasks.lookupType('containerd.events.TaskExecStarted');
    this.taskExit = tasks.lookupType('containerd.events.TaskExit');
    for (const socket of sockets) {
      const address = `unix:${socket}`;
      const creds = grpc.credentials.createInsecure();
      this.connections.push({
        socket,
        containers: new pkg.containerd.services.containers.v1.Containers(address, creds),
        namespaces: new pkg.containerd.services.namespaces.v1.Namespaces(address, creds),
        events: new pkg.containerd.services.events.v1.Events(address, creds),
      });
    }
    for (const c of this.connections) this.subscribe(c, 0);
  }

  /** Whether any containerd socket was found. */
  get active(): boolean {
    return this.connections.length > 0;
  }

  /**
   * What is known of container `id` now: details, null (no containerd knows
   * it), or undefined (not looked up yet: a lookup is started).
   */
  details(id: string): ContainerDetails | null | undefined {
    if (this.cache.has(id)) return this.cache.get(id);
    if (this.active) void this.settled(id);
    return undefined;
  }

  /** The answer for `id`, once the lookup has ended. */
  settled(id: string): Promise<ContainerDetails | null> {
    if (this.cache.has(id)) return Promise.resolve(this.cache.get(id)!);
    let p = this.inFlight.get(id);
    if (!p) {
      p = this.lookup(id).then((d) => {
        this.inFlight.delete(id);
        if (this.cache.size >= this.maxEntries) this.cache.clear();
        this.cache.set(id, d);
        return d;
      });
      this.inFlight.set(id, p);
    }
    return p;
  }

  /**
   * The container containerd started process `pid` in (its init or an exec),
   * if that process was alive at `time` (an audit event's, ms since the
   * epoch): a later process given the same pid is not placed by it.
   */
  owner(pid: number, time: number): PidOwner | undefined {
    const o = this.pids.get(pid);
    if (o === undefined || time < o.started - START_SLACK_MS) return undefined;
    if (o.exited !== undefined && time > o.exited + EXIT_SLACK_MS) return undefined;
    return o;
  }

  close(): void {
    this.closed = true;
    for (const c of this.connections) {
      c.stream?.cancel();
      c.containers.close();
      c.namespaces.close();
      c.events.close();
    }
  }

  private metadata(namespace: string): import('@grpc/grpc-js').Metadata {
    const m = new this.grpc!.Metadata();
    m.set('containerd-namespace', namespace);
    return m;
  }

  private call<T>(client: Connection['containers'], method: string, request: object, namespace: string): Promise<T> {
    this.counts.requests++;
    return new Promise((resolve, reject) => {
      client[method](request, this.metadata(namespace), { deadline: Date.now() + this.timeoutMs }, (err: Error | null, res: T) => (err ? reject(err) : resolve(res)));
    });
  }

  private async lookup(id: string): Promise<ContainerDetails | null> {
    for (const c of this.connections) {
      let names: string[];
      try {
        const res = await this.call<{ namespaces: Array<{ name: string }> }>(c.namespaces, 'List', {}, 'default');
        // The CRI plugin's first: Kubernetes hosts are why this is asked.
        names = res.namespaces.map((n) => n.name).sort((a, b) => (a === 'k8s.io' ? -1 : b === 'k8s.io' ? 1 : a.localeCompare(b)));
      } catch {
        this.counts.failures++;
        continue;
      }
      for (const ns of names) {
        try {
          const res = await this.call<{ container: { labels?: Record<string, string>; image?: string } }>(c.containers, 'Get', { id }, ns);
          return detailsFromContainerd(res.container);
        } catch (e) {
          if ((e as { code?: number }).code !== this.grpc!.status.NOT_FOUND) this.counts.failures++;
        }
      }
    }
    return null;
  }

  private onEvent(envelope: Envelope): void {
    const bytes = envelope.event?.value;
    if (!bytes) return;
    let e: TaskEvent;
    try {
      const type = envelope.topic === '/tasks/start' ? this.taskStart! : envelope.topic === '/tasks/exit' ? this.taskExit! : this.taskExec!;
      e = type.toObject(type.decode(bytes), { longs: Number }) as TaskEvent;
    } catch {
      return; // an event of another shape: not ours to read
    }
    if (!e.container_id || !e.pid) return;
    this.counts.events++;
    if (envelope.topic === '/tasks/exit') {
      const o = this.pids.get(e.pid);
      if (o !== undefined && o.id === e.container_id) o.exited = millis(e.exited_at) ?? millis(envelope.timestamp) ?? Date.now();
      return;
    }
    if (this.pids.size >= this.maxPids) this.pids.delete(this.pids.keys().next().value!);
    this.pids.delete(e.pid); // re-inserted last, so the oldest are the ones forgotten
    this.pids.set(e.pid, { id: e.container_id, namespace: envelope.namespace, started: millis(envelope.timestamp) ?? Date.now() });
  }

  /** Follow the task events of one containerd, again after a pause whenever the stream ends. */
  private subscribe(c: Connection, failures: number): void {
    if (this.closed) return;
    const stream = c.events.Subscribe({ filters: ['topic=="/tasks/start"', 'topic=="/tasks/exec-started"', 'topic=="/tasks/exit"'] }) as unknown as NodeJS.EventEmitter & {
      cancel(): void;
    };
    c.stream = stream;
    stream.on('data', (envelope: Envelope) => this.onEvent(envelope));

    const again = () => {
      if (this.closed) return;
      const timer = setTimeout(() => this.subscribe(c, failures + 1), Math.min(30_000, 250 * 2 ** Math.min(failures, 7)));
      timer.unref();
    };
    stream.on('error', () => undefined);
    stream.on('status', (s: { code: number }) => {
      if (s.code !== this.grpc!.status.CANCELLED) again();
    });
  }
}
