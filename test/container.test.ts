import { tempDir } from './helpers/temp.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFilter } from '../lib/filter/index.js';
import { engineSocketsFrom } from '../lib/cli/engines.js';
import { checkConfig } from '../lib/config/index.js';
import type { AuditEvent } from '../lib/assemble/event.js';
import { CGROUP_GONE, CGROUP_NOT_ASKED, CGROUP_PARENT, CGROUP_RUNTIME_PARENT, CGROUP_SELF, ContainerResolver, type ContainerInfo, containerFromCgroup, containerFromPath, containerFromPaths } from '../lib/enrich/container.js';

const ID = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);
const POD = '3f1b5a42-8e3c-4d2a-9b0e-1c2d3e4f5a6b';

describe('container ids from cgroup paths', () => {
  const cases: Array<[string, string, object | undefined]> = [
    ['docker, cgroupfs', `/docker/${ID}`, { id: ID, runtime: 'docker' }],
    ['docker, systemd', `/system.slice/docker-${ID}.scope`, { id: ID, runtime: 'docker' }],
    ['containerd CRI, systemd', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`, { id: ID, runtime: 'containerd', podUid: POD }],
    ['kubernetes, cgroupfs', `/kubepods/burstable/pod${POD}/${ID}`, { id: ID, runtime: 'kubernetes', podUid: POD }],
    ['kubernetes guaranteed, cgroupfs', `/kubepods/pod${POD}/${ID}`, { id: ID, runtime: 'kubernetes', podUid: POD }],
    ['CRI-O', `/kubepods.slice/kubepods-pod${POD.replace(/-/g, '_')}.slice/crio-${ID}.scope`, { id: ID, runtime: 'cri-o', podUid: POD }],
    ['podman, systemd', `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container`, { id: ID, runtime: 'podman' }],
    ['podman, cgroupfs', `/libpod_parent/libpod-${ID}`, { id: ID, runtime: 'podman' }],
    ['containerd without kubernetes', `/default/${ID}`, { id: ID, runtime: 'containerd' }],
    ['lxc', '/lxc.payload.web1', { id: 'web1', runtime: 'lxc' }],
    ['podman conmon is no container', `/machine.slice/libpod-conmon-${ID}.scope`, undefined],
    ['a host service', '/system.slice/ssh.service', undefined],
    ['the root', '/', undefined],
    ['a short hex id', '/process_api/5f84d2950b88755b7d4046cdc2cdeaa2', undefined],
  ];
  it.each(cases)('%s', (_, p, expected) => {
    const found = containerFromPath(p);
    if (expected === undefined) expect(found).toBeUndefined();
    else expect(found).toMatchObject({ ...expected, cgroup: p });
  });

  it('reads cgroup v1 and v2 /proc/<pid>/cgroup texts', () => {
    const v1 = `12:pids:/docker/${ID}\n11:memory:/docker/${ID}\n0::/\n`;
    const v2 = `0::/system.slice/docker-${ID}.scope\n`;
    const host = '0::/init.scope\n';
    expect(containerFromCgroup(v1)?.id).toBe(ID);
    expect(containerFromCgroup(v2)?.runtime).toBe('docker');
    expect(containerFromCgroup(host)).toBeUndefined();
  });
});

describe('ContainerResolver (what the reader thread read, and how)', () => {
  it('a process read itself: its container, or null for the host', () => {
    const r = new ContainerResolver();
    expect(r.resolve(`/docker/${ID}`, CGROUP_SELF)).toMatchObject({ id: ID, runtime: 'docker' });
    expect(r.resolve('/process_api/5f84d2950b88755b7d4046cdc2cdeaa2\n/', CGROUP_SELF)).toBeNull();
  });

  it('a process placed through its parent: where the parent is, unless the parent is a runtime\'s process on the host (unknown, never the host)', () => {
    const r = new ContainerResolver();
    expect(r.resolve(`/kubepods/pod${POD}/${ID}`, CGROUP_PARENT)).toMatchObject({ id: ID, podUid: POD });
    expect(r.resolve('/user.slice/session-1.scope', CGROUP_PARENT)).toBeNull();
    expect(r.resolve('/system.slice/containerd.service', CGROUP_RUNTIME_PARENT)).toBeUndefined();
    expect(r.resolve(`/docker/${ID}`, CGROUP_RUNTIME_PARENT)).toMatchObject({ id: ID });
    expect(r.resolve(undefined, CGROUP_GONE)).toBeUndefined();
    expect(r.resolve(undefined, CGROUP_NOT_ASKED)).toBeUndefined();
  });

  it('reads several distinct paths, the first naming a container wins', () => {
    expect(containerFromPaths(`/\n/docker/${ID}`)?.id).toBe(ID);
    expect(containerFromPaths('/\n/user.slice')).toBeUndefined();
  });
});

describe('ProcessTable', () => {
  function proc(root: string, pid: number, ppid: number, comm: string, start = 1): void {
    fs.mkdirSync(path.join(root, String(pid)), { recursive: true });
    const rest = ['S', String(ppid), ...Array.from({ length: 17 }, () => '0'), String(start), '0'];
    fs.writeFileSync(path.join(root, String(pid), 'stat'), `${pid} (${comm}) ${rest.join(' ')}\n`);
    fs.writeFileSync(path.join(root, String(pid), 'cmdline'), `${comm}\0--flag\0`);
  }

  it('walks parents from /proc, nearest first, up to the depth and not past pid 1', async () => {
    const { ProcessTable } = await import('../lib/enrich/process.js');
    const root = tempDir('la-ptable-');
    proc(root, 1, 0, 'init');
    proc(root, 10, 1, 'sshd');
    proc(root, 20, 10, 'bash');
    proc(root, 30, 20, 'sudo');
    const t = new ProcessTable({ procRoot: root });
    expect(t.ancestry(30).map((p) => [p.pid, p.comm, p.argv])).toEqual([
      [20, 'bash', ['bash', '--flag']],
      [10, 'sshd', ['sshd', '--flag']],
      [1, 'init', ['init', '--flag']],
    ]);
    expect(t.ancestry(30, 2).map((p) => p.pid)).toEqual([20, 10]);
    const reads = t.reads;
    t.ancestry(30);
    expect(t.reads).toBe(reads); // cached
  });

  it('learns from the stream: a process that has exited is still named', async () => {
    const { ProcessTable } = await import('../lib/enrich/process.js');
    const root = tempDir('la-ptable-');
    proc(root, 1, 0, 'init');
    const t = new ProcessTable({ procRoot: root });
    t.exec(500, 1, '/usr/bin/python3', 'python3', ['python3', 'x.py']);
    t.fork(500, 501);
    t.exec(501, 500, '/bin/sh', 'sh', ['sh', '-c', 'id']);
    // The parent's clone event can come after the child's exec: it must not undo it.
    t.fork(500, 501);
    expect(t.get(501)?.exe).toBe('/bin/sh');
    expect(t.ancestry(501).map((p) => [p.pid, p.exe])).toEqual([
      [500, '/usr/bin/python3'],
      [1, undefined],
    ]);
  });
});

describe('RuntimeClient (engine API over a unix socket)', () => {
  // A stand-in for the engine: no container engine runs on this machine.
  async function fakeEngine(containers: Record<string, object>, delayMs = 0): Promise<{ socket: string; close(): Promise<void>; requests: string[] }> {
    const http = await import('node:http');
    const socket = path.join(tempDir('la-engine-'), 'docker.sock');
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(req.url!);
      const id = /^\/containers\/([^/]+)\/json$/.exec(req.url!)?.[1];
      setTimeout(() => {
        if (id && containers[id]) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(containers[id]));
        } else {
          res.writeHead(404);
          res.end('{"message":"No such container"}');
        }
      }, delayMs);
    });
    await new Promise<void>((r) => server.listen(socket, r));
    return { socket, requests, close: () => new Promise((r) => server.close(() => r())) };
  }

  it('adds name, image and pod labels to a container, in the background and cached', async () => {
    const { RuntimeClient } = await import('../lib/enrich/runtime.js');
    const engine = await fakeEngine(
      {
        [ID]: {
          Name: '/k8s_web_web-7d4b9c_default_uid_0',
          Config: { Image: 'nginx:1.27', Labels: { 'io.kubernetes.pod.name': 'web-7d4b9c', 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.container.name': 'web' } },
        },
      },
      50,
    );
    try {
      const runtime = new RuntimeClient({ sockets: [engine.socket] });
      const r = new ContainerResolver({ runtime });
      const text = `/system.slice/docker-${ID}.scope`;
      // The first event does not wait for the engine.
      expect(r.resolve(text, CGROUP_SELF)).toEqual({ id: ID, runtime: 'docker', cgroup: text, via: 'cgroup' });
      await runtime.settled(ID);
      expect(r.resolve(text, CGROUP_SELF)).toMatchObject({ id: ID, name: 'k8s_web_web-7d4b9c_default_uid_0', image: 'nginx:1.27', pod: 'web-7d4b9c', namespace: 'default', containerName: 'web' });
      for (let i = 0; i < 100; i++) r.resolve(text, CGROUP_SELF);
      expect(engine.requests).toEqual([`/containers/${ID}/json`]);
    } finally {
      await engine.close();
    }
  });

  it('remembers that no runtime knows an id, and skips sockets that are not there', async () => {
    const { RuntimeClient } = await import('../lib/enrich/runtime.js');
    const engine = await fakeEngine({});
    try {
      const runtime = new RuntimeClient({ sockets: ['/nonexistent/docker.sock', engine.socket] });
      expect(await runtime.settled('abc')).toBeNull();
      expect(runtime.details('abc')).toBeNull();
      expect(engine.requests).toEqual(['/containers/abc/json']);
    } finally {
      await engine.close();
    }
  });
});

describe('choosing events by container, and where the engines are asked', () => {
  const web = { id: ID, runtime: 'kubernetes' as const, cgroup: '', name: 'cart', pod: 'shop-7d4b9c-x2x9q', namespace: 'shop' };
  // The filter reads only ev.container: events stand in as that one property.
  const pick = (wanted: string[], c: ContainerInfo | null | undefined): boolean => compileFilter({ containers: wanted })({ container: c } as AuditEvent);

  it('host is the host only: an event whose container is unknown is neither the host nor a container', () => {
    expect(pick(['host'], null)).toBe(true);
    expect(pick(['host'], undefined)).toBe(false);
    expect(pick(['any'], undefined)).toBe(false);
    expect(pick(['host'], web)).toBe(false);
    expect(pick(['any'], web)).toBe(true);
  });

  it('by id prefix, name, pod, or namespace/pod', () => {
    for (const w of [ID.slice(0, 12), 'cart', 'shop-7d4b9c-x2x9q', 'shop/shop-7d4b9c-x2x9q']) expect(pick([w], web), w).toBe(true);
    for (const w of ['other/shop-7d4b9c-x2x9q', 'shop/cart', 'shop/', '/shop-7d4b9c-x2x9q', 'bbbb']) expect(pick([w], web), w).toBe(false);
    expect(pick(['shop/shop-7d4b9c-x2x9q'], { ...web, namespace: undefined })).toBe(false);
  });

  it('sockets from flags, else the config file, else the defaults; none, or an empty list, asks none', () => {
    expect(engineSocketsFrom({})).toEqual({ runtimeSockets: undefined, containerdSockets: undefined });
    expect(engineSocketsFrom({ 'runtime-socket': ['/host/run/docker.sock'], 'containerd-socket': ['none'] })).toEqual({ runtimeSockets: ['/host/run/docker.sock'], containerdSockets: false });
    const config = checkConfig({ runtimeSockets: [], containerdSockets: ['/host/run/containerd/containerd.sock'] });
    expect(engineSocketsFrom({}, config)).toEqual({ runtimeSockets: false, containerdSockets: ['/host/run/containerd/containerd.sock'] });
    expect(engineSocketsFrom({ 'containerd-socket': ['/a.sock,/b.sock'] }, config)).toEqual({ runtimeSockets: false, containerdSockets: ['/a.sock', '/b.sock'] });
    expect(() => checkConfig({ containerdSockets: '/x.sock' })).toThrow(/^config\.containerdSockets: expected a list/);
  });
});
