// Temporary directories for tests, under the run's own directory (made and
// removed by the global setup, test/helpers/build.ts): a run leaves nothing
// in /tmp, whatever its outcome, even when a worker is killed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(process.env.LINUX_AUDIT_TEST_TMP ?? os.tmpdir(), prefix));
}
