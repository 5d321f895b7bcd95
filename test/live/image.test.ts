// The agent as a container, as deploy/ runs it on every node: an image laid
// out as deploy/Dockerfile lays it out (made from local files: no registry
// here), run by a real Docker engine with the host's pid namespace and only
// CAP_AUDIT_CONTROL and CAP_AUDIT_READ. Another container's exec, seen from
// inside the agent's container, is attributed to that container and
// forwarded; the kernel is left as it was.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeLive, kernelSnapshot, restoreKernel, type KernelSnapshot } from '../helpers/live.js';
import { startDocker, type DockerEngine } from '../helpers/engines.js';
import { agentRootfs, importAgentImage } from '../helpers/image.js';
import { readJSONLines } from '../helpers/json-lines.js';
import { tempDir } from '../helpers/temp.js';

describeLive('the agent as a container (deploy/Dockerfile) on a real Docker engine', () => {
  let before: KernelSnapshot;
  let docker: DockerEngine;
  let dir: string;
  const cli = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : '/usr/local/bin/docker';

  beforeAll(async () => {
    before = await kernelSnapshot();
    dir = tempDir('linux-audit-image-');
    docker = await startDocker();
    importAgentImage(cli, docker.socket, agentRootfs(dir), 'linux-audit:local');
  }, 180_000);

  afterAll(async () => {
    await docker?.stop();
    await restoreKernel(before);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('run without the host\'s pid namespace: refused by the kernel, and the message says to add --pid=host', () => {
    const r = spawnSync(cli, ['-H', `unix://${docker.socket}`, 'run', '--rm', '--network=none', '--cap-drop=ALL', '--cap-add=AUDIT_CONTROL', '--cap-add=AUDIT_READ', 'linux-audit:local', 'status'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/EPERM: this process is not in the host's pid namespace, .*docker run --pid=host; Kubernetes hostPID: true/);
  });

  it('run with --pid=host and the two audit capabilities: a container\'s exec is attributed to it and forwarded', async () => {
    const config = path.join(dir, 'etc');
    const out = path.join(dir, 'out');
    const journal = path.join(dir, 'run');
    for (const d of [config, out, journal]) fs.mkdirSync(d);
    fs.writeFileSync(
      path.join(config, 'config.json'),
      JSON.stringify({
        rules: ['-a always,exit -F arch=b64 -S execve -F success=1 -k la_image'],
        filter: { keys: ['la_image'] },
        sinks: ['file:/out/events.json?format=json&max=0'],
        runtimeSockets: ['/run/docker.sock'],
        containerdSockets: [],
        procRoot: '/proc',
        healthSeconds: 0,
        metrics: '127.0.0.1:0',
      }),
    );
    const agent = docker
      .docker(
        'run', '-d', '--name', 'la-agent',
        '--pid=host', '--network=none', '--read-only',
        '--cap-drop=ALL', '--cap-add=AUDIT_CONTROL', '--cap-add=AUDIT_READ',
        '-v', `${config}:/etc/linux-audit:ro`,
        '-v', `${journal}:/run/linux-audit`,
        '-v', `${docker.socket}:/run/docker.sock:ro`,
        '-v', `${out}:/out`,
        'linux-audit:local',
      )
      .trim();
    // The agent writes to stderr: docker logs gives it back on its own stderr.
    const logs = (): string => {
      const r = spawnSync(cli, ['-H', `unix://${docker.socket}`, 'logs', agent], { encoding: 'utf8' });
      return r.stdout + r.stderr;
    };
    const until = async (what: string, ok: () => boolean, ms = 20_000): Promise<void> => {
      const end = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; agent: ${docker.docker('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', agent)} ${logs()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until('the agent to receive', () => logs().includes('receiving in'));
    const app = docker.docker('run', '-d', '--name', 'la-app', '--network', 'none', 'bb:local', '/bin/sh', '-c', 'sleep 1; /bin/true; sleep 100000').trim();
    const file = path.join(out, 'events.json');
    type Ev = { process?: { exe?: string; comm?: string }; container?: { id: string; name?: string; runtime: string } | null };
    const events = (): Ev[] => readJSONLines<Ev>(file);
    await until('the exec of true in its container', () => events().some((e) => e.process?.comm === 'true'));
    const ev = events().find((e) => e.process?.comm === 'true')!;
    expect(ev.container).toMatchObject({ id: app, name: 'la-app', runtime: 'docker' });
    // The agent's own start (node, as PID 1 of its container) is not the host either.
    docker.docker('stop', '-t', '20', agent);
    expect(docker.docker('inspect', '-f', '{{.State.ExitCode}}', agent).trim()).toBe('0');
    expect(logs()).toMatch(/linux-audit forward: unicast; \d+ events/);
    docker.docker('rm', '-f', app, agent);
    const after = await kernelSnapshot();
    expect(after).toEqual(before);
  }, 120_000);
});
