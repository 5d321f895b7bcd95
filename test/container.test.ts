import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContainerResolver, containerFromCgroup, containerFromPath } from '../lib/enrich/container.js';

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

describe('ContainerResolver', () => {
  function fakeProc(): { root: string; setProcess(pid: number, start: number, cgroup: string): void; remove(pid: number): void } {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'la-proc-'));
    return {
      root,
      setProcess(pid, start, cgroup) {
        fs.mkdirSync(path.join(root, String(pid)), { recursive: true });
        // comm with a space and a parenthesis, as real process names may have
        const fields = ['S', ...Array.from({ length: 18 }, () => '0'), String(start), '0'];
        fs.writeFileSync(path.join(root, String(pid), 'stat'), `${pid} (we(ird name) ${fields.join(' ')}\n`);
        fs.writeFileSync(path.join(root, String(pid), 'cgroup'), cgroup);
      },
      remove(pid) {
        fs.rmSync(path.join(root, String(pid)), { recursive: true, force: true });
      },
    };
  }

  it('reads a process once, then answers from the cache', () => {
    const proc = fakeProc();
    proc.setProcess(100, 5000, `0::/docker/${ID}\n`);
    const r = new ContainerResolver({ procRoot: proc.root });
    expect(r.lookup(100)?.id).toBe(ID);
    const reads = r.reads;
    for (let i = 0; i < 1000; i++) r.lookup(100);
    expect(r.reads).toBe(reads);
  });

  it('sees a reused pid, or a process moved to another cgroup, once the answer is revalidateMs old; at once when asked fresh', () => {
    const proc = fakeProc();
    proc.setProcess(100, 5000, '0::/system.slice/cron.service\n');
    const r = new ContainerResolver({ procRoot: proc.root, revalidateMs: 60_000 });
    expect(r.lookup(100)).toBeNull();
    proc.setProcess(100, 5000, `0::/docker/${ID}\n`);
    expect(r.lookup(100)).toBeNull(); // trusted for a minute
    expect(r.lookup(100, undefined, true)?.runtime).toBe('docker');
    const soon = new ContainerResolver({ procRoot: proc.root, revalidateMs: 0 });
    expect(soon.lookup(100)?.runtime).toBe('docker');
    proc.setProcess(100, 9000, '0::/system.slice/cron.service\n');
    expect(soon.lookup(100)).toBeNull();
  });

  it('falls back to the parent when the process is gone', () => {
    const proc = fakeProc();
    proc.setProcess(200, 1, `0::/kubepods/pod${POD}/${ID}\n`);
    const r = new ContainerResolver({ procRoot: proc.root });
    expect(r.lookup(201, 200)).toMatchObject({ id: ID, podUid: POD });
    expect(r.lookup(202)).toBeUndefined();
  });

  it('stays within its bound', () => {
    const proc = fakeProc();
    for (let pid = 1; pid <= 20; pid++) proc.setProcess(pid, pid, '0::/\n');
    const r = new ContainerResolver({ procRoot: proc.root, maxEntries: 5 });
    for (let pid = 1; pid <= 20; pid++) r.lookup(pid);
    const reads = r.reads;
    r.lookup(20); // recent: cached
    expect(r.reads).toBe(reads);
    r.lookup(1); // evicted long ago: read again
    expect(r.reads).toBeGreaterThan(reads);
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
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'la-ptable-'));
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
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'la-ptable-'));
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
    const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'la-engine-')), 'docker.sock');
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
      const proc = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'la-proc-')), '300');
      fs.mkdirSync(proc);
      fs.writeFileSync(path.join(proc, 'stat'), `300 (nginx) S 1 ${Array.from({ length: 16 }, () => '0').join(' ')} 77 0\n`);
      fs.writeFileSync(path.join(proc, 'cgroup'), `0::/system.slice/docker-${ID}.scope\n`);
      const runtime = new RuntimeClient({ sockets: [engine.socket] });
      const r = new ContainerResolver({ procRoot: path.dirname(proc), runtime });
      // The first event does not wait for the engine.
      expect(r.lookup(300)).toEqual({ id: ID, runtime: 'docker', cgroup: `/system.slice/docker-${ID}.scope` });
      await runtime.settled(ID);
      expect(r.lookup(300)).toMatchObject({ id: ID, name: 'k8s_web_web-7d4b9c_default_uid_0', image: 'nginx:1.27', pod: 'web-7d4b9c', namespace: 'default', containerName: 'web' });
      for (let i = 0; i < 100; i++) r.lookup(300);
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
