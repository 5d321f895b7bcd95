// The live forward tests read what a real rsyslogd wrote; this checks how the
// helper reads it when rsyslogd was killed in the middle of a line.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Rsyslog } from './helpers/rsyslog.js';

describe('the rsyslog helper', () => {
  it('ends a line rsyslogd was killed in the middle of, leaves it out, and reads the lines written after the restart', async () => {
    const rsyslog = new Rsyslog();
    try {
      fs.writeFileSync(rsyslog.out, 'info SYSCALL - {"serial":1}\ninfo SYSCALL - {"serial":2,"a3"');
      await rsyslog.stop('SIGKILL'); // none running: only the file is looked at
      fs.appendFileSync(rsyslog.out, 'info SYSCALL - {"serial":3}\n');
      expect(rsyslog.lines().map((l) => l.msg)).toEqual(['{"serial":1}', '{"serial":3}']);
      expect(rsyslog.linesCut).toBe(1);
      // A stop after whole lines cuts nothing.
      await rsyslog.stop('SIGKILL');
      expect(rsyslog.linesCut).toBe(1);
    } finally {
      await rsyslog.cleanup();
    }
  });
});
