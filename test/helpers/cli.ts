// Run the built `linux-audit` command as a user would: a spawned process with
// real arguments, its stdout, stderr and exit code.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '', ...options.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A long-running command (tail): its output so far, and a way to wait for text in it. */
export class CliProcess {
  private static running = new Set<CliProcess>();

  /** Kill what a failed test left running (it would hold the audit pid, or send duplicates). */
  static async killAll(): Promise<void> {
    const left = [...CliProcess.running];
    for (const p of left) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(left.map((p) => p.exited));
  }

  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[], options: { env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    CliProcess.running.add(this);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        CliProcess.running.delete(this);
        resolve(code);
      }),
    );
  }

  /** Resolves when `test` holds for the output, rejects after `ms` with what there was. */
  async waitFor(test: (p: CliProcess) => boolean, what: string, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!test(this)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; stdout: ${this.stdout.slice(-2000)} stderr: ${this.stderr.slice(-2000)}`);
      if (this.child.exitCode !== null) throw new Error(`the command exited (${this.child.exitCode}) before ${what}; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
