// The agent's container image, made offline from local files as
// deploy/Dockerfile's final stage lays it out (read from the Dockerfile):
// this machine's Node (and the libraries it links) where node:20's is, and
// the files the final stage copies: package.json, dist/, proto/, the
// production node_modules and the compiled addon.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared libraries a binary needs, as ldd names them (the loader included). */
function libraries(binary: string): string[] {
  return execFileSync('ldd', [binary], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
}

function copy(from: string, root: string, to = from): void {
  const dest = path.join(root, to);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.cpSync(from, dest, { recursive: true, dereference: true });
}

/** The Dockerfile's final stage: what it copies from the build stage, and its WORKDIR, ENTRYPOINT and CMD lines. */
function finalStage(): { copies: Array<[string, string]>; changes: string[] } {
  const text = fs.readFileSync(path.join(repo, 'deploy', 'Dockerfile'), 'utf8');
  const final = text.slice(text.lastIndexOf('\nFROM '));
  return {
    copies: [...final.matchAll(/^COPY --from=build \/src\/(\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]),
    changes: final.split('\n').filter((l) => /^(WORKDIR|ENTRYPOINT|CMD) /.test(l)),
  };
}

/**
 * A root file system laid out as the Dockerfile's final stage (node:20's
 * Node in /usr/local/bin; the build stage's files under the WORKDIR, its
 * node_modules pruned to production); returns its directory.
 */
export function agentRootfs(dir: string): string {
  const root = path.join(dir, 'agent-rootfs');
  for (const d of ['tmp', 'proc', 'sys', 'dev', 'etc', 'run', 'var/lib']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\n');
  const node = fs.realpathSync(process.execPath);
  copy(node, root, '/usr/local/bin/node');
  for (const lib of libraries(node)) copy(lib, root);
  const app = '/opt/linux-audit';
  for (const [from, to] of finalStage().copies) {
    const dest = path.join(app, to === './' ? path.basename(from) : to);
    if (from !== 'node_modules') {
      copy(path.join(repo, from), root, dest);
      continue;
    }
    // npm prune --omit=dev: the production dependencies only.
    const deps = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repo, encoding: 'utf8' })
      .split('\n')
      .filter((p) => p.startsWith(path.join(repo, 'node_modules') + path.sep));
    for (const d of deps) copy(d, root, path.join(app, path.relative(repo, d)));
  }
  return root;
}

/** The image imported into an engine, with the Dockerfile's WORKDIR, ENTRYPOINT and CMD. */
export function importAgentImage(dockerCli: string, socket: string, rootfs: string, name: string): void {
  const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 1 << 30 });
  const changes = ['ENV PATH=/usr/local/bin:/usr/bin:/bin', ...finalStage().changes].flatMap((c) => ['--change', c]);
  execFileSync(dockerCli, ['-H', `unix://${socket}`, 'import', ...changes, '-', name], { input: tar, stdio: ['pipe', 'ignore', 'pipe'], maxBuffer: 1 << 30 });
}
