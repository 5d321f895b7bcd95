// Container names, images and Kubernetes pods from the runtime's API socket
// (Docker's engine API, which podman also serves). Lookups run in the
// background and are cached: an event never waits for one. The first events of
// a new container go out without these details; later ones carry them.
import http from 'node:http';
import fs from 'node:fs';

export interface ContainerDetails {
  name?: string;
  image?: string;
  /** Kubernetes pod, namespace and container name, from the runtime's labels. */
  pod?: string;
  namespace?: string;
  containerName?: string;
  /** The pod's uid, from the labels (the cgroup path says it too, when the process was read). */
  podUid?: string;
}

export interface RuntimeClientOptions {
  /** Engine API sockets to ask, first that answers wins. Default: Docker's and podman's usual places. */
  sockets?: string[];
  /** Per-request timeout. Default 1000 ms. */
  timeoutMs?: number;
  /** Containers remembered (answers and misses). Default 1024. */
  maxEntries?: number;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
}

const DEFAULT_SOCKETS = ['/var/run/docker.sock', '/run/podman/podman.sock'];
const MAX_ANSWER_CHARS = 1 << 20;

interface Inspect {
  Name?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null };
}

/** The details an engine API `GET /containers/{id}/json` answer holds. */
export function detailsFromInspect(body: Inspect): ContainerDetails {
  const labels = body.Config?.Labels ?? {};
  const out: ContainerDetails = {};
  if (body.Name) out.name = body.Name.replace(/^\//, '');
  if (body.Config?.Image) out.image = body.Config.Image;
  if (labels['io.kubernetes.pod.name']) out.pod = labels['io.kubernetes.pod.name'];
  if (labels['io.kubernetes.pod.namespace']) out.namespace = labels['io.kubernetes.pod.namespace'];
  if (labels['io.kubernetes.container.name']) out.containerName = labels['io.kubernetes.container.name'];
  if (labels['io.kubernetes.pod.uid']) out.podUid = labels['io.kubernetes.pod.uid'];
  return out;
}

export class RuntimeClient {
  private readonly sockets: string[];
  private readonly timeoutMs: number;
  private readonly maxEntries: number;
  private readonly concurrency: number;
  /** id → details, or null when no runtime knows the id. */
  private readonly cache = new Map<string, ContainerDetails | null>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private inFlight = 0;
  private readonly waiters = new Map<string, Array<(d: ContainerDetails | null) => void>>();
  /** Lookups made and failed, for stats. */
  readonly counts = { requests: 0, failures: 0 };

  constructor(options: RuntimeClientOptions = {}) {
    this.sockets = options.sockets ?? DEFAULT_SOCKETS;
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 1024);
    this.concurrency = Math.max(1, options.concurrency ?? 4);
  }

  /** Whether any of the sockets exists. */
  get active(): boolean {
    return this.sockets.some((s) => fs.existsSync(s));
  }

  /**
   * What is known of container `id` now: details, null (no runtime knows it),
   * or undefined (not looked up yet; a lookup is started).
   */
  details(id: string): ContainerDetails | null | undefined {
    if (this.cache.has(id)) return this.cache.get(id);
    if (!this.queued.has(id)) {
      this.queued.add(id);
      this.queue.push(id);
      this.pump();
    }
    return undefined;
  }

  /** Resolves once `id` has been looked up (for callers that can wait). */
  settled(id: string): Promise<ContainerDetails | null> {
    const known = this.details(id);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.inFlight++;
      void this.lookup(id).then((d) => {
        this.inFlight--;
        this.queued.delete(id);
        if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(id, d);
        for (const w of this.waiters.get(id) ?? []) w(d);
        this.waiters.delete(id);
        this.pump();
      });
    }
  }

  private async lookup(id: string): Promise<ContainerDetails | null> {
    for (const socketPath of this.sockets) {
      if (!fs.existsSync(socketPath)) continue;
      this.counts.requests++;
      try {
        const body = await this.get(socketPath, `/containers/${encodeURIComponent(id)}/json`);
        if (body) return detailsFromInspect(JSON.parse(body) as Inspect);
      } catch {
        this.counts.failures++;
      }
    }
    return null;
  }

  private get(socketPath: string, path: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath, path, timeout: this.timeoutMs, headers: { host: 'localhost' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
          // A container's inspect answer is a few KiB; a socket that streams without end must not grow our memory.
          if (body.length > MAX_ANSWER_CHARS) req.destroy(new Error(`the answer from ${socketPath} exceeds ${MAX_ANSWER_CHARS} characters`));
        });
        res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${socketPath} within ${this.timeoutMs} ms`)));
      req.on('error', reject);
    });
  }
}
