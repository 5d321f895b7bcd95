// Real container engines for the live tests, offline: a Docker engine and a
// containerd, each under a temporary directory of its own, with no network
// changes (no bridge, no iptables) and an image made from this machine's
// busybox, not pulled. stop() leaves no container, mount, process or file.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp.js';

function busyboxPath(): string {
  return fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox';
}

/** A root file system with busybox and the applets the tests run. */
export function busyboxRootfs(dir: string): string {
  const root = path.join(dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'proc', 'sys', 'dev', 'etc']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync(busyboxPath(), path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'sleep', 'true', 'false', 'cat', 'cp', 'nc', 'date', 'mount', 'ls', 'id']) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  return root;
}

/** Unmount whatever an engine left mounted under `dir`, deepest first. */
function unmountUnder(dir: string): void {
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}

async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} did not come up within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** A daemon of the test's own: started with its log in `dir`, up once `ready` says so, stopped with everything under `dir`. */
async function startDaemon(name: string, dir: string, command: string, args: string[], ready: () => boolean, clear: () => Promise<void> | void): Promise<() => Promise<void>> {
  const logFile = path.join(dir, `${name}.log`);
  const log = fs.openSync(logFile, 'w');
  const child = spawn(command, args, { stdio: ['ignore', log, log] });
  const stop = async () => {
    try {
      await clear();
    } catch {
      // the daemon is already gone
    }
    await stopProcess(child);
    unmountUnder(dir);
    fs.closeSync(log);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(name, () => {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
      return ready();
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return stop;
}

export interface DockerEngine {
  socket: string;
  /** The containerd the engine started and manages (its namespace is moby). */
  containerdSocket: string;
  /** `docker -H unix://socket …`, its stdout. */
  docker(...args: string[]): string;
  stop(): Promise<void>;
}

/** A Docker engine of the test's own: `dockerd --bridge=none --iptables=false …` under a temporary directory; the image bb:local imported. */
export async function startDocker(): Promise<DockerEngine> {
  const dir = tempDir('docker-');
  const socket = path.join(dir, 'docker.sock');
  const cli = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : '/usr/local/bin/docker';
  const docker = (...args: string[]) => execFileSync(cli, ['-H', `unix://${socket}`, ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const stop = await startDaemon(
    'dockerd',
    dir,
    'dockerd',
    ['--bridge=none', '--iptables=false', '--ip6tables=false', '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'dockerd.pid'), '-H', `unix://${socket}`],
    () => spawnSync(cli, ['-H', `unix://${socket}`, 'version'], { stdio: 'ignore' }).status === 0,
    () => {
      const ids = docker('ps', '-aq').trim();
      if (ids) spawnSync(cli, ['-H', `unix://${socket}`, 'rm', '-f', ...ids.split('\n')]);
    },
  );
  try {
    const tar = spawnSync('tar', ['-C', busyboxRootfs(dir), '-c', '.'], { maxBuffer: 64 << 20 });
    execFileSync(cli, ['-H', `unix://${socket}`, 'import', '-', 'bb:local'], { input: tar.stdout, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (e) {
    await stop();
    throw e;
  }
  return { socket, containerdSocket: path.join(dir, 'exec', 'containerd', 'containerd.sock'), docker, stop };
}

export interface ContainerdEngine {
  socket: string;
  namespace: string;
  /** `ctr --address socket -n namespace …`, its stdout. */
  ctr(...args: string[]): string;
  /** A busybox root file system to run containers from (ctr run --rootfs). */
  rootfs: string;
  stop(): Promise<void>;
}

/** containerd alone, with its own config (root, state, socket) under a temporary directory. */
export async function startContainerd(): Promise<ContainerdEngine> {
  const dir = tempDir('containerd-');
  const socket = path.join(dir, 'containerd.sock');
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(
    config,
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      '  disable_cgroup = false',
      '',
    ].join('\n'),
  );
  const namespace = 'k8s.io';
  const ctr = (...args: string[]) => execFileSync('ctr', ['--address', socket, '-n', namespace, ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const each = (...args: string[]) => ctr(...args).trim().split('\n').filter(Boolean);
  const stop = await startDaemon(
    'containerd',
    dir,
    'containerd',
    ['--config', config],
    () => spawnSync('ctr', ['--address', socket, 'version'], { stdio: 'ignore' }).status === 0,
    async () => {
      for (const task of each('tasks', 'ls', '-q')) spawnSync('ctr', ['--address', socket, '-n', namespace, 'tasks', 'kill', '-s', 'SIGKILL', task]);
      await new Promise((r) => setTimeout(r, 300));
      for (const task of each('tasks', 'ls', '-q')) spawnSync('ctr', ['--address', socket, '-n', namespace, 'tasks', 'delete', '-f', task]);
      for (const c of each('containers', 'ls', '-q')) spawnSync('ctr', ['--address', socket, '-n', namespace, 'containers', 'delete', c]);
    },
  );
  const rootfs = busyboxRootfs(dir);
  return { socket, namespace, ctr, rootfs, stop };
}

export interface PodmanEngine {
  /** `podman --root … run …` with the test's storage and cgroup parent, its stdout. */
  podman(...args: string[]): string;
  /** The argument list of podman with the test's storage, for running it without blocking. */
  args: string[];
  /** Options every `podman run` here needs: runc (crun refuses this machine's hybrid cgroups), limits within the machine's own, the test's cgroup parent. */
  runOptions: string[];
  stop(): Promise<void>;
}

/**
 * podman with its own storage (vfs: no overlay mounts) and runtime directory
 * under a temporary directory, containers under a cgroup parent of the test's
 * own, removed at stop() with everything else. The image bb:local imported.
 */
export async function startPodman(): Promise<PodmanEngine> {
  const dir = tempDir('podman-');
  const parent = `/la-test-${process.pid}/libpod_parent`;
  const args = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--tmpdir', path.join(dir, 'tmp'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
  const podman = (...a: string[]) => execFileSync('podman', [...args, ...a], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const runOptions = ['--runtime', 'runc', '--network', 'none', '--cgroup-parent', parent, '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
  const stop = async () => {
    spawnSync('podman', [...args, 'rm', '-fa'], { stdio: 'ignore' });
    unmountUnder(dir);
    // The cgroups podman made under the test's parent, deepest first, in every hierarchy.
    for (const root of fs.readdirSync('/sys/fs/cgroup').map((h) => path.join('/sys/fs/cgroup', h, parent.split('/')[1]))) {
      if (!fs.existsSync(root)) continue;
      const dirs: string[] = [];
      const walk = (d: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
        dirs.push(d);
      };
      walk(root);
      for (const d of dirs) fs.rmdirSync(d);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const tar = spawnSync('tar', ['-C', busyboxRootfs(dir), '-c', '.'], { maxBuffer: 64 << 20 });
    execFileSync('podman', [...args, 'import', '-', 'bb:local'], { input: tar.stdout, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (e) {
    await stop();
    throw e;
  }
  return { podman, args, runOptions, stop };
}
