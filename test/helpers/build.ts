// The command-line tests run the built command as a user would; build it
// from the sources under test first, so they never test a stale dist/.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export default function setup(): () => void {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  // One directory for every temporary file of this run (test/helpers/temp.ts):
  // the workers inherit it, and it goes when the run ends, however it ends.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-tests-'));
  process.env.LINUX_AUDIT_TEST_TMP = dir;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
