// valgrind over the native open/receive/close cycle (scripts/native-cycle.mjs):
// fails on any invalid access and on any block definitely or indirectly lost
// that was allocated by our addon. Node's own allocations at exit are not ours
// to judge, so loss records are kept only when their stack names the addon.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-valgrind-')), 'valgrind.log');
const run = spawnSync(
  'valgrind',
  ['--leak-check=full', '--show-leak-kinds=definite,indirect', '--num-callers=30', `--log-file=${log}`, process.execPath, path.join(root, 'scripts', 'native-cycle.mjs'), process.argv[2] ?? '20'],
  { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' },
);
if (run.error) {
  console.error(`test:valgrind: cannot run valgrind (${run.error.message}); apt-get install valgrind`);
  process.exit(1);
}
const text = fs.readFileSync(log, 'utf8');
// valgrind separates reports with lines holding only the pid prefix.
const reports = text.split(/\n==\d+== \n/);
const ours = (r) => r.includes('linux_audit.node');
const invalid = reports.filter((r) => /Invalid (read|write|free)|uninitialised|Mismatched free/.test(r) && ours(r));
const leaks = reports.filter((r) => /are (definitely|indirectly) lost in loss record/.test(r) && ours(r));
const summary = /ERROR SUMMARY: .*/.exec(text)?.[0];
if (run.status !== 0) {
  console.error(`test:valgrind: the cycle failed under valgrind (exit ${run.status}); see ${log}`);
  process.exit(1);
}
if (!/native-cycle: \d+ cycles/.test(run.stdout)) {
  // A cycle that never ran would leave nothing to find.
  console.error(`test:valgrind: the cycle did not complete under valgrind: ${run.stdout}; see ${log}`);
  process.exit(1);
}
for (const r of [...invalid, ...leaks]) console.error(r);
const clean = invalid.length + leaks.length === 0;
console.log(`test:valgrind: ${invalid.length} invalid accesses and ${leaks.length} leaks in the addon (whole process: ${summary})${clean ? '' : `; log ${log}`}`);
// The log is kept only when it has something to read.
if (clean) fs.rmSync(path.dirname(log), { recursive: true, force: true });
process.exit(clean ? 0 : 1);
