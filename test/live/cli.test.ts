// The command against the real kernel, with auditctl and ausearch as oracles.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { CliProcess, cli } from '../helpers/cli.js';
import { auditctl, describeLive, kernelSnapshot, restoreKernel, syscallGenerator, type KernelSnapshot } from '../helpers/live.js';

/** `k=v` pairs of an `ausearch -i`-style line, after the ` : `. */
function pairs(line: string): Map<string, string> {
  const body = line.slice(line.indexOf(' : ') + 3).trim();
  const out = new Map<string, string>();
  for (const m of body.matchAll(/(\S+?)=(\S*)/g)) out.set(m[1], m[2]);
  return out;
}

/** Record lines by "serial type", from ausearch -i or our text output. */
function recordLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^type=(\S+) msg=audit\([^)]*:(\d+)\) : /.exec(line);
    if (m) out.set(`${m[2]} ${m[1]}`, line);
  }
  return out;
}

describeLive('the linux-audit command on the real kernel', () => {
  let before: KernelSnapshot;
  let dir: string;

  beforeAll(async () => {
    before = await kernelSnapshot();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-cli-'));
    auditctl('-D');
  });

  afterEach(async () => {
    await CliProcess.killAll();
    auditctl('-D');
    await restoreKernel(before);
  });

  afterAll(async () => {
    auditctl('-D');
    await restoreKernel(before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('in a user namespace the kernel refuses whatever the capabilities, and the message says where to run instead', () => {
    const r = spawnSync('unshare', ['-U', '-r', process.execPath, path.resolve('dist/cli/main.js'), 'status'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/AUDIT_GET failed: ECONNREFUSED: this process is not in the host's user namespace, .*run it outside any user namespace \(no userns-remap, no rootless engine\)/);
  });

  it('status says what auditctl -s says', () => {
    const ours = cli(['status']);
    expect(ours.code).toBe(0);
    const theirs = auditctl('-s');
    // backlog and the wait-time total move between the two calls.
    const steady = (t: string) => t.split('\n').filter((l) => l !== '' && !/^(backlog|backlog_wait_time_actual|lost) /.test(l));
    expect(steady(ours.stdout)).toEqual(steady(theirs));
    expect(ours.stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean)).toEqual(theirs.split('\n').map((l) => l.split(' ')[0]).filter(Boolean));
  });

  it('enable, disable, backlog and rate change what auditctl -s reads', () => {
    const field = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(auditctl('-s'))![1]);
    expect(cli(['enable']).code).toBe(0);
    expect(field('enabled')).toBe(1);
    expect(cli(['disable']).code).toBe(0);
    expect(field('enabled')).toBe(0);
    expect(cli(['backlog', '4321', '--wait-time', '6000']).code).toBe(0);
    expect(field('backlog_limit')).toBe(4321);
    expect(field('backlog_wait_time')).toBe(6000);
    expect(cli(['rate', '77']).code).toBe(0);
    expect(field('rate_limit')).toBe(77);
  });

  it('rules load then rules list equals auditctl -l; flush by key; add and delete verbatim', () => {
    const file = path.join(dir, 'cli.rules');
    fs.writeFileSync(
      file,
      [
        '-D',
        '-b 8192',
        '-a always,exit -F arch=b64 -S execve,execveat -k exec',
        '-a always,exit -F arch=b64 -S connect -F a2!=110 -F success=1 -k net',
        '-w /etc/passwd -p wa -k identity',
        '-a exit,always -F arch=b32 -S open -F exit=-EACCES -k access',
        '-a always,exit -F dir=/var/log -F perm=w -F auid>=1000 -F auid!=unset -k logs',
      ].join('\n') + '\n',
    );
    const load = cli(['rules', 'load', file]);
    expect(load.code, load.stderr).toBe(0);
    const ours = cli(['rules', 'list']);
    expect(ours.stdout).toBe(auditctl('-l'));
    expect(ours.stdout.trimEnd().split('\n')).toHaveLength(5);

    expect(cli(['rules', 'list', '--key', 'net']).stdout.trimEnd().split('\n')).toHaveLength(1);
    const flush = cli(['rules', 'flush', '--key', 'exec']);
    expect(flush.code).toBe(0);
    expect(flush.stderr).toMatch(/deleted 1 rule/);
    expect(auditctl('-l')).not.toMatch(/key=exec/);

    expect(cli(['rules', 'add', '-a', 'always,exit', '-F', 'arch=b64', '-S', 'getppid', '-k', 'cli add']).code).toBe(0);
    expect(auditctl('-l')).toContain('-a always,exit -F arch=b64 -S getppid -F key=cli add');
    const again = cli(['rules', 'add', '-a', 'always,exit', '-F', 'arch=b64', '-S', 'getppid', '-k', 'cli add']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already has this rule/);
    expect(cli(['rules', 'delete', '-d', 'always,exit', '-F', 'arch=b64', '-S', 'getppid', '-k', 'cli add']).code).toBe(0);
    expect(auditctl('-l')).not.toContain('getppid');
    expect(cli(['rules', 'flush']).code).toBe(0);
    expect(cli(['rules', 'list']).stdout).toBe('No rules\n');
    expect(auditctl('-l')).toBe('No rules\n');
  });

  it('rules load --continue reports each failing line and exits 3', () => {
    const file = path.join(dir, 'partly.rules');
    fs.writeFileSync(file, ['-w /etc/hosts -p wa -k ok1', '-a always,exit -F arch=b64 -S getppid -k ok2', '-a always,exit -F arch=b64 -S getppid -k ok2', '-w /etc/group -p wa -k ok3'].join('\n'));
    const r = cli(['rules', 'load', '--continue', file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/partly\.rules:3: .*already has this rule/);
    expect(auditctl('-l').trimEnd().split('\n')).toHaveLength(3);
  });

  it('rules preset loads the set auditctl then lists', () => {
    const r = cli(['rules', 'preset', 'time-change']);
    expect(r.code, r.stderr).toBe(0);
    const listed = auditctl('-l');
    expect(listed).toMatch(/-S adjtimex,settimeofday,clock_settime,clock_adjtime -F key=time-change|clock_settime/);
    expect(cli(['rules', 'list']).stdout).toBe(listed);
  });

  it('tail --format raw: ausearch reads the output and interprets it as our text does; SIGUSR1 heartbeat; SIGTERM restores the kernel', async () => {
    const rules = path.join(dir, 'tail.rules');
    fs.writeFileSync(rules, '-a always,exit -F arch=b64 -S getppid -k cli-tail\n');
    const statusBefore = auditctl('-s');
    const tail = new CliProcess(['tail', '--format', 'raw', '--rules', rules, '-k', 'cli-tail']);
    try {
      await tail.waitFor((p) => p.stderr.includes('receiving in unicast mode'), 'tail to start');
      expect(auditctl('-l')).toContain('key=cli-tail');
      execFileSync(syscallGenerator(), ['200']);
      await tail.waitFor((p) => (p.stdout.match(/^type=SYSCALL /gm) ?? []).length >= 20, '20 getppid events');
      // status names the daemon and shows the running tail's counters.
      await new Promise((r) => setTimeout(r, 2500));
      const status = cli(['status']);
      expect(status.stdout).toMatch(/^pid_comm node$/m);
      expect(status.stdout).toMatch(new RegExp(`^agent ${tail.child.pid} tail unicast since=\\S+ updated=\\d+s_ago events=\\d+ shown=(\\d+) lost_kernel=0 socket_overruns=0 dropped=0 queue=\\d+$`, 'm'));
      tail.child.kill('SIGUSR1');
      await tail.waitFor((p) => /linux-audit tail: unicast; \d+ events \(\d+ shown\)/.test(p.stderr), 'the heartbeat');
      tail.child.kill('SIGTERM');
      expect(await tail.exited).toBe(0);
    } finally {
      if (tail.child.exitCode === null) tail.child.kill('SIGKILL');
    }
    expect(cli(['status']).stdout).not.toMatch(/^agent /m);
    // Everything it added is gone, and the kernel's settings are as they were.
    expect(auditctl('-l')).toBe('No rules\n');
    const steady = (t: string) => t.split('\n').filter((l) => /^(enabled|failure|pid|rate_limit|backlog_limit) /.test(l));
    expect(steady(auditctl('-s'))).toEqual(steady(statusBefore));

    // Every line is a whole record (an event may have been cut by SIGTERM, so
    // compare the events ausearch and we both read).
    const raw = path.join(dir, 'tail.log');
    fs.writeFileSync(raw, tail.stdout);
    const ausearch = spawnSync('ausearch', ['-if', raw, '-i'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } });
    expect(ausearch.status, ausearch.stderr).toBe(0);
    const ours = cli(['parse', '--format', 'text', raw], { env: { TZ: 'UTC' } });
    const theirs = recordLines(ausearch.stdout);
    const mine = recordLines(ours.stdout);
    expect(mine.size).toBeGreaterThanOrEqual(20);
    expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
    let compared = 0;
    for (const [at, line] of mine) {
      const a = pairs(theirs.get(at)!);
      const b = pairs(line);
      for (const [k, v] of a) {
        // ausearch keeps quotes around a user-space msg's text and prints
        // proctitle with spaces (our text escapes nothing here either).
        if (k === 'proctitle') continue;
        expect(b.get(k), `${at} ${k}`).toBe(v);
        compared++;
      }
      expect(theirs.get(at)!.slice(0, theirs.get(at)!.indexOf(' : '))).toBe(line.slice(0, line.indexOf(' : ')));
    }
    expect(compared).toBeGreaterThan(20 * 20);
  });

  it('a hostile file name from the kernel: escaped in text, every byte kept in JSON and raw', async () => {
    const watched = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-evil-'));
    const name = Buffer.concat([Buffer.from('a\x1b]0;pwned\x07\x1b[2J\nb\u202Ecod.sh'), Buffer.from([0xff, 0xc3]), Buffer.from('.txt')]);
    const rules = path.join(dir, 'evil.rules');
    fs.writeFileSync(rules, `-w ${watched} -p wa -k cli-evil\n`);
    const tail = new CliProcess(['tail', '--format', 'raw', '--rules', rules, '--key', 'cli-evil', '--count', '1']);
    try {
      await tail.waitFor((p) => p.stderr.includes('receiving in'), 'tail to start');
      // A file whose name is those bytes, made by a child so the name goes through the kernel as bytes.
      execFileSync('python3', ['-c', 'import os,sys; fd=os.open(os.fsencode(sys.argv[1]) + bytes.fromhex(sys.argv[2]), os.O_CREAT|os.O_WRONLY, 0o600); os.close(fd)', `${watched}/`, name.toString('hex')]);
      expect(await tail.exited).toBe(0);
    } finally {
      fs.rmSync(watched, { recursive: true, force: true });
    }
    const raw = path.join(dir, 'evil.log');
    fs.writeFileSync(raw, tail.stdout);
    // raw: the kernel wrote the name as hex, so each record is still one line.
    expect(tail.stdout.trimEnd().split('\n').every((l) => l.startsWith('type='))).toBe(true);
    const text = cli(['parse', '-f', 'text', raw]).stdout;
    expect(text).not.toMatch(/[\x07\x1b\u202e]/);
    expect(text).toContain('a\\x1b]0;pwned\\x07\\x1b[2J\\nb\\u{202e}cod.sh\\xff\\xc3.txt');
    const [ev] = cli(['parse', '-f', 'json', raw]).stdout.trim().split('\n').map((l) => JSON.parse(l));
    const created = ev.records.find((r: { typeName: string; fields: Record<string, string> }) => r.typeName === 'PATH' && r.fields.nametype === 'CREATE');
    expect(Buffer.from(created.hex.name, 'hex')).toEqual(Buffer.concat([Buffer.from(`${watched}/`), name]));
  });

  it('tail stops after --count events, and the filter keeps only what was asked', async () => {
    const rules = path.join(dir, 'count.rules');
    fs.writeFileSync(rules, '-a always,exit -F arch=b64 -S getppid -k cli-count\n-a always,exit -F arch=b64 -S uname -k cli-other\n');
    const tail = new CliProcess(['tail', '--format', 'json', '--rules', rules, '--key', 'cli-count', '--count', '5']);
    try {
      await tail.waitFor((p) => p.stderr.includes('receiving in'), 'tail to start');
      for (let i = 0; i < 5; i++) execFileSync('uname');
      execFileSync(syscallGenerator(), ['50']);
      expect(await tail.exited).toBe(0);
    } finally {
      if (tail.child.exitCode === null) tail.child.kill('SIGKILL');
    }
    const events = tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as { keys: string[]; syscall: { name: string } });
    expect(events).toHaveLength(5);
    for (const ev of events) {
      expect(ev.keys).toEqual(['cli-count']);
      expect(ev.syscall.name).toBe('getppid');
    }
    expect(auditctl('-l')).toBe('No rules\n');
  });

  it('forward --keep-rules-on-exit: the next start of the same agent takes the rules over (never a moment without them); a start without it cleans up', async () => {
    const out = path.join(dir, 'handover.json');
    const config = path.join(dir, 'handover-config.json');
    fs.writeFileSync(config, JSON.stringify({ healthSeconds: 0, rules: ['-a always,exit -F arch=b64 -S getppid -F key=handover'], sinks: [`file:${out}?format=json&max=0`] }));
    const run = async (extra: string[]): Promise<CliProcess> => {
      const p = new CliProcess(['forward', '--config', config, ...extra]);
      await p.waitFor((x) => x.stderr.includes('receiving in'), 'forward to start');
      return p;
    };
    const stop = async (p: CliProcess): Promise<void> => {
      p.child.kill('SIGTERM');
      expect(await p.exited, p.stderr).toBe(0);
    };
    const ruleLines = (): string[] => auditctl('-l').split('\n').filter((l) => l.includes('key=handover'));

    const first = await run(['--keep-rules-on-exit']);
    await stop(first);
    // Between the two runs: the rule, auditing on, no daemon.
    expect(ruleLines()).toEqual(['-a always,exit -F arch=b64 -S getppid -F key=handover']);
    expect((await kernelSnapshot()).enabled).toBe(1);
    expect((await kernelSnapshot()).pid).toBe(0);

    const second = await run(['--keep-rules-on-exit']);
    expect(second.stderr).toContain(`took over from pid ${first.child.pid}`);
    expect(ruleLines()).toHaveLength(1);
    // The first run's own exclusion (-F pid=) went; the second's is in.
    expect(auditctl('-l')).not.toContain(`pid=${first.child.pid}`);
    expect(auditctl('-l')).toContain(`pid=${second.child.pid}`);
    execFileSync(syscallGenerator(), ['5']);
    await second.waitFor(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('"handover"'), 'an event under the adopted rule');
    await stop(second);

    const third = await run([]);
    expect(third.stderr).toMatch(new RegExp(`cleaned up after pid ${second.child.pid} .*which left its rules for a restart as "forward ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" that did not come`));
    await stop(third);
    expect(auditctl('-l')).toBe('No rules\n');
    expect(await kernelSnapshot()).toEqual(before);
  });
}, { ausearch: 'auditd' });
