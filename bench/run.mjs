#!/usr/bin/env node
// npm run bench [-- decode|log|format|live|stall|scale|rules|watch|soak|churn|scaling|size|spool|wake] [--seconds N] [--runs N] [--consumers a,b] [--semi-space MB]
// npm run bench -- --report [FILE…]   tables from results files (bench/report.mjs)
//
// decode: what JS costs once the native reader has assembled events (its
//         assembler run without a kernel over a mix built from the corpus):
//         records/s reading events, keys, SYSCALL fields, every field, interpreted.
// live:   a C generator makes audited getppid() calls as fast as it can while
//         each consumer in turn is the audit daemon: our subscriber (reading
//         events; decoding every field), the minimal C reader
//         (bench/peers/min-reader.c, the limit) and auditd (log_format=RAW).
//         Records/s, kernel lost, overruns, drops, CPU per event, peak RSS,
//         the generator's slowdown, latency from syscall to JS.
// stall:  our consumer stops 250 ms every second at full load: what is lost,
//         and where it is counted.
// scale:  CPU per event as the rate doubles, ours and the minimal reader; SVG plot.
// soak:   (only when named) full rate for --seconds, RSS sampled every 10 s:
//         `npm run bench -- soak --seconds 600` is the 10-minute memory check.
// churn:  (only when named) full rate for --seconds while rules are added and
//         deleted and multicast subscribers come and go: every call accounted
//         for, descriptors, threads and RSS start→end.
// Every live run restores the kernel state it changed.
// rules:  parse + encode of a 1,000-rule file, and loading it into the kernel
//         beside `auditctl -R` on the same file (rules/s).
// log:    the same large audit.log through readAuditLog and through libauparse
//         (bench/peers/auparse-walk.c), every field, with and without
//         interpretation: records/s and the ratio; and one walk of ours in a
//         fresh process (bench/log-walk.mjs), as a tool reading one log pays,
//         also of the capture's first 8 MiB (the size auditd rotates at).
// format: events/s through each output: json, text, raw, and RFC 5424 syslog
//         messages (json and raw payloads): the ceiling of tail and forward.
// exec:   an execve storm (two processes vfork+exec /bin/true), each consumer as in live,
//         and (min-reader-cgroups) the minimal reader reading each exec's
//         /proc/<pid>/cgroup: the floor for a reader that names containers.
// watch:  CPU per event of watch() against subscribe() on the same events (the
//         watch's rules, a generator binding a port as fast as it can).
// scaling: (only when named) hostile input (bench/hostile.mjs: issue 18's
//         shapes) at 256 KiB and at 4× that, through the decoder, assembler,
//         meanings and every output, and through the rule parser: the time
//         ratio per shape; linear is 4×, the bound we hold is 5×.
// size:   (only when named) bytes per event of our JSON (records full, fields,
//         none) against the raw lines and laurel's JSON for the same records
//         (test/corpus/laurel/record-*.txt and .json).
// spool:  (only when named) messages/s through a sink's memory spool and its
//         disk spool (lib/sinks/spool.ts), with the receiver keeping up and
//         after a backlog: what spool=disk costs.
// wake:   (only when named) what this machine charges a thread for a wake-up
//         (bench/peers/wake-floor.c sleeping, and an empty Node timer) and for
//         a system call: at low rates every consumer's CPU per event is mostly
//         its wake-ups.
// Results go to stdout as Markdown and to bench/results/<date>-<host>[-<scenarios>][-<commit>].json
// (the commit when a file of that name is already there).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
if (process.argv.includes('--report')) {
  const { printReport } = await import('./report.mjs');
  const files = process.argv.slice(process.argv.indexOf('--report') + 1).filter((a) => !a.startsWith('--'));
  printReport(files, path.join(here, 'results'));
  process.exit(0);
}
const lib = (p) => import(path.join(root, 'dist', p));
const { parseLogLine } = await lib('decode/record.js');
const { EventBatch } = await lib('assemble/batch.js');
const { RECORD_TYPE_CLASS } = await lib('constants/index.js');
const { subscribe, watch, AuditClient, parseRules, encodeRule, readAuditLog } = await lib('index.js');
const { watchRules } = await lib('watch/rules.js');
const { walkReadAuditLog, walkParseLogLine } = await import('./log-walk.mjs');
const { formatEvent } = await lib('format/index.js');
const { SyslogFormatter } = await lib('sinks/index.js');

const argv = process.argv.slice(2);
const secondsAt = argv.indexOf('--seconds');
const seconds = secondsAt >= 0 ? Number(argv[secondsAt + 1]) : 10;
const usage = (message) => {
  console.error(`bench: ${message}`);
  process.exit(2);
};
if (!(seconds > 0)) usage(`--seconds wants a number of seconds, not "${argv[secondsAt + 1]}"`);
const roundsAt = argv.indexOf('--runs');
const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : 1;
if (!(Number.isInteger(rounds) && rounds > 0)) usage(`--runs wants a whole number of rounds, not "${argv[roundsAt + 1]}"`);
// --consumers a,b,…: the live and exec scenarios' consumers, in this order in
// every round (for an alternating comparison of a few); all of them when not given.
const consumersAt = argv.indexOf('--consumers');
const LIVE_CONSUMERS = ['keys', 'syscall', 'fields', 'batch-keys', 'multicast', 'min-reader', 'auditd'];
const EXEC_CONSUMERS = ['keys', 'keys-no-containers', 'syscall', 'fields', 'min-reader', 'min-reader-cgroups', 'auditd'];
const chosen = consumersAt >= 0 ? (argv[consumersAt + 1] ?? '').split(',') : undefined;
const liveConsumers = chosen?.filter((c) => LIVE_CONSUMERS.includes(c)) ?? LIVE_CONSUMERS;
const execConsumers = chosen?.filter((c) => EXEC_CONSUMERS.includes(c)) ?? EXEC_CONSUMERS;
for (const c of chosen ?? []) if (!LIVE_CONSUMERS.includes(c) && !EXEC_CONSUMERS.includes(c)) usage(`unknown consumer "${c}"; live: ${LIVE_CONSUMERS.join(', ')}; exec: ${EXEC_CONSUMERS.join(', ')}`);
// MIN_READER_LOOP (bench/peers/min-reader.c): the minimal reader with our reader's loop.
const minReaderLoop = process.env.MIN_READER_LOOP;
// --semi-space MB: our consumer's process runs with V8's young generation
// fixed at two semi-spaces of MB (--min- and --max-semi-space-size), as a host
// that wants its RSS flat can run; by default V8 grows it under load, and the
// soak's RSS with it (bench/README.md).
const semiSpaceAt = argv.indexOf('--semi-space');
const semiSpace = semiSpaceAt >= 0 ? Number(argv[semiSpaceAt + 1]) : undefined;
if (semiSpace !== undefined && !(Number.isInteger(semiSpace) && semiSpace > 0)) usage(`--semi-space wants a size in MB, not "${argv[semiSpaceAt + 1]}"`);
// --child-run SPEC: one run of ours, for the harness that spawned this process (see oursRun).
const childRunAt = argv.indexOf('--child-run');
const optionValues = new Set([secondsAt, roundsAt, consumersAt, semiSpaceAt, childRunAt].filter((i) => i >= 0).map((i) => i + 1));
const which = argv.filter((a, i) => !a.startsWith('--') && !optionValues.has(i));
const SCENARIOS = ['decode', 'log', 'format', 'live', 'exec', 'stall', 'scale', 'soak', 'churn', 'rules', 'watch', 'scaling', 'size', 'spool', 'wake'];
for (const w of which) if (!SCENARIOS.includes(w)) usage(`unknown scenario "${w}"; scenarios: ${SCENARIOS.join(', ')}`);
const run = (name) => which.length === 0 || which.includes(name);
const corpus = process.env.LINUX_AUDIT_CORPUS ?? path.resolve(root, 'test', 'corpus');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The median of several runs and their range, as every table reports them. */
function spread(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

// --- decode ---------------------------------------------------------------

/** Netlink datagrams for every kernel-looking record of the corpus logs, as the kernel frames them. */
function corpusDatagrams() {
  const files = [
    'go-libaudit/auparse/audit-rhel7.log',
    'go-libaudit/auparse/audit-ubuntu16.log',
    'laurel/record-execve-long.txt',
    'laurel/record-perl-reverse-shell.txt',
    'laurel/record-bind-ipv4-bigendian.txt',
    'laurel/shell-proc-trace.txt',
    'elastic-beats/auditbeat-auditd-testdata/sudo.log',
  ];
  const out = [];
  for (const f of files) {
    for (const line of fs.readFileSync(path.join(corpus, f), 'utf8').split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const r = parseLogLine(line);
      if (!r || r.malformed) continue;
      const body = Buffer.from(r.text);
      const msg = Buffer.alloc(16 + body.length);
      msg.writeUInt32LE(body.length, 0);
      msg.writeUInt16LE(r.type, 4);
      body.copy(msg, 16);
      out.push(msg);
    }
  }
  return out;
}

/**
 * The corpus mix as the native reader hands it to JS: the datagrams through
 * native/assembler.cc (its harness, native/test/assemble-harness.cc), each
 * event given its own serial, in batches of about 256 KiB.
 */
function nativeBatches(minRecords) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-bench-batches-'));
  try {
    const bin = path.join(dir, 'assemble-harness');
    execFileSync('c++', ['-std=c++17', '-O2', '-o', bin, path.join(root, 'native', 'test', 'assemble-harness.cc'), path.join(root, 'native', 'assembler.cc'), path.join(root, 'native', 'cgroup.cc')]);
    fs.writeFileSync(path.join(dir, 'type-class'), RECORD_TYPE_CLASS);
    const unique = corpusDatagrams();
    const frames = [];
    let records = 0;
    let bytes = 0;
    let serial = 1;
    let last = -1;
    let since = 0;
    for (let rep = 0; records < minRecords; rep++) {
      for (const m of unique) {
        // A fresh serial per event: the corpus mix repeats its own.
        const text = m.subarray(16).toString('latin1');
        const head = /^audit\((\d+\.\d+):(\d+)\)/.exec(text);
        const own = Number(head[2]);
        if (own !== last || m.readUInt16LE(4) >= 1100 && m.readUInt16LE(4) < 1300) serial++;
        last = own;
        const body = Buffer.from(text.replace(head[0], `audit(${head[1]}:${serial})`), 'latin1');
        const d = Buffer.alloc(16 + body.length);
        d.writeUInt16LE(m.readUInt16LE(4), 4);
        body.copy(d, 16);
        const h = Buffer.alloc(9);
        h.write('D');
        h.writeUInt32LE(d.length, 5);
        frames.push(h, d);
        records++;
        bytes += d.length;
        since += d.length;
        if (since >= 256 << 10) {
          frames.push(Buffer.from('P'));
          since = 0;
        }
      }
    }
    frames.push(Buffer.from('F'));
    const out = execFileSync(bin, [path.join(dir, 'type-class')], { input: Buffer.concat(frames), maxBuffer: 1 << 30 });
    const batches = [];
    let at = 0;
    while (at < out.length) {
      const kind = String.fromCharCode(out[at]);
      const length = out.readUInt32LE(at + 1);
      at += 5;
      if (kind === 'B') {
        const data = Buffer.from(out.subarray(at, at + length));
        at += length;
        const words = out.readUInt32LE(at);
        at += 4;
        const index = new Uint32Array(words);
        for (let w = 0; w < words; w++) index[w] = out.readUInt32LE(at + w * 4);
        at += words * 4;
        batches.push({ data, index });
      } else {
        at += length;
      }
    }
    return { batches, records, bytes, distinctRecords: unique.length };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What JS costs per event and record once the native reader has assembled them (no kernel, one core). */
function decodeBench() {
  const { batches, records, bytes, distinctRecords } = nativeBatches(200_000);
  const events = batches.reduce((n, b) => n + b.index[0], 0);
  const modes = {
    'events (serial, time)': (ev) => ev.serial + ev.time,
    'events, keys': (ev) => ev.keys,
    'events, SYSCALL fields': (ev) => ev.syscall,
    'every field of every record': (ev) => {
      for (const r of ev.records) void r.fields;
    },
    'every field interpreted': (ev) => {
      for (const r of ev.records) void r.interpreted;
    },
  };
  const results = {};
  for (const [name, touch] of Object.entries(modes)) {
    const rates = [];
    for (let run = 0; run < 7; run++) {
      const t0 = process.hrtime.bigint();
      for (const { data, index } of batches) for (const ev of new EventBatch(data, index)) touch(ev);
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (run > 1) rates.push(records / dt); // first runs warm the JIT
    }
    results[name] = { recordsPerSec: median(rates), min: Math.min(...rates), max: Math.max(...rates), eventsPerSec: (median(rates) * events) / records };
  }
  return { records, events, bytes, distinctRecords, batches: batches.length, results };
}

// --- log: ours against libauparse on the same file -------------------------

/**
 * A large audit.log from the corpus mix, every event given its own serial and
 * time (auparse groups records by them), written to a temp file.
 */
function generatedLog(minRecords) {
  const files = ['go-libaudit/auparse/audit-rhel7.log', 'go-libaudit/auparse/audit-ubuntu16.log', 'laurel/record-execve-long.txt', 'laurel/record-perl-reverse-shell.txt', 'laurel/shell-proc-trace.txt', 'elastic-beats/auditbeat-auditd-testdata/sudo.log'];
  const lines = [];
  for (const f of files) {
    for (const line of fs.readFileSync(path.join(corpus, f), 'utf8').split('\n')) {
      const r = line.startsWith('type=') ? parseLogLine(line) : undefined;
      if (r && !r.malformed && r.type !== 1320) lines.push(line);
    }
  }
  const out = [];
  let serial = 1;
  let ms = 1_700_000_000_000;
  let previous = '';
  while (out.length < minRecords) {
    for (const line of lines) {
      const m = /audit\(\d+\.\d+:\d+\)/.exec(line);
      if (m[0] !== previous) {
        previous = m[0];
        serial++;
        ms += 3;
      }
      out.push(line.replace(m[0], `audit(${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}:${serial})`));
    }
  }
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-bench-log-')), 'audit.log');
  fs.writeFileSync(file, out.join('\n') + '\n');
  return { file, records: out.length, bytes: fs.statSync(file).size };
}

/**
 * A real audit.log: auditd (log_format=RAW) records this host doing ordinary
 * work (programs run, files read and written, failed opens, connections)
 * under a broad rule set, until it holds `minRecords` records. Needs root;
 * the kernel state it changes is put back.
 */
async function capturedLog(minRecords) {
  const dir = scratchDir('linux-audit-bench-capture-');
  const key = `la_bench_capture_${process.pid}`;
  const client = await AuditClient.open();
  const before = await client.getStatus();
  const restore = () => {
    spawnSync('auditctl', ['-D', '-k', key]);
    spawnSync('auditctl', ['-b', String(before.backlogLimit)]);
    if (before.enabled !== 2) spawnSync('auditctl', ['-e', String(before.enabled)]);
  };
  restoreOnSignal = restore;
  let daemon;
  try {
    if (before.pid !== 0) throw new Error(`pid ${before.pid} is registered as the audit daemon; stop it before the log benchmark`);
    fs.mkdirSync(path.join(dir, 'plugins.d'));
    fs.writeFileSync(
      path.join(dir, 'auditd.conf'),
      [`log_file = ${dir}/audit.log`, 'log_format = RAW', 'flush = INCREMENTAL_ASYNC', 'freq = 50', 'max_log_file = 100000', 'max_log_file_action = IGNORE', 'space_left = 2', 'space_left_action = IGNORE', 'admin_space_left = 1', 'admin_space_left_action = IGNORE', 'disk_full_action = IGNORE', 'disk_error_action = IGNORE', `plugin_dir = ${dir}/plugins.d`, 'name_format = NONE', ''].join('\n'),
    );
    daemon = spawn('auditd', ['-n', '-s', 'nochange', '-c', dir], { stdio: 'ignore' });
    const exited = new Promise((r) => daemon.on('exit', r));
    const deadline = Date.now() + 10_000;
    while ((await client.getStatus()).pid !== daemon.pid) {
      if (Date.now() > deadline) throw new Error('auditd did not register');
      await new Promise((r) => setTimeout(r, 50));
    }
    if (before.enabled === 0) await client.setEnabled(1);
    if (before.backlogLimit < 8192) await client.setBacklogLimit(8192);
    for (const rule of [
      ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'execve', '-F', `key=${key}`],
      ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'openat', '-F', 'success=0', '-F', `key=${key}`],
      ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'connect', '-F', `key=${key}`],
      ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'openat', '-F', 'dir=/etc', '-F', `key=${key}`],
      ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'unlinkat,renameat2,fchmodat', '-F', `key=${key}`],
    ]) {
      auditctl(...rule);
    }
    const work = path.join(dir, 'work');
    fs.mkdirSync(work);
    // Ordinary work: programs, reads of /etc, writes and removals, failed opens, connections.
    const script = `cd ${work}; for i in $(seq 50); do id >/dev/null; ls /etc >/dev/null; cat /etc/hostname /etc/os-release >/dev/null; date >f$i; chmod 600 f$i; mv f$i g$i; rm g$i; cat /nonexistent-$i 2>/dev/null; (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; done; true`;
    const log = path.join(dir, 'audit.log');
    const lines = () => (fs.existsSync(log) ? countLines(log) : 0);
    while (lines() < minRecords) execFileSync('bash', ['-c', script]);
    auditctl('-D', '-k', key);
    daemon.kill('SIGTERM');
    await exited;
    daemon = undefined;
    return { dir, file: log, records: countLines(log), bytes: fs.statSync(log).size };
  } finally {
    if (daemon) daemon.kill('SIGKILL');
    restore();
    restoreOnSignal = undefined;
    client.close();
  }
}

function countLines(file) {
  const b = fs.readFileSync(file);
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * One log through ours and libauparse, runs alternating so both see the same
 * machine: every field of every record, then every field interpreted. Ours
 * two ways (bench/log-walk.mjs): readAuditLog over a file stream (events),
 * and parseLogLine over the file's lines (records, no events); each again
 * and again in this process, then once each in a fresh one.
 */
async function logWalks(file, walker, { freshOnly = false } = {}) {
  const auparse = (mode) => {
    const out = execFileSync(walker, mode ? [file, mode] : [file], { encoding: 'utf8' });
    const m = /records=(\d+) fields=(\d+) seconds=([\d.]+)/.exec(out);
    return Number(m[1]) / Number(m[3]);
  };
  const rate = ({ records, seconds }) => records / seconds;
  // A tool that reads one log once: a process of its own, compiling as it
  // goes (libauparse's walker, too, is a fresh process each run).
  const fresh = (api) => {
    const out = execFileSync(process.execPath, [path.join(here, 'log-walk.mjs'), api, file], { encoding: 'utf8' });
    const m = /records=(\d+) seconds=([\d.]+)/.exec(out);
    return Number(m[1]) / Number(m[2]);
  };
  const summary = (rates) => ({ recordsPerSec: median(rates), min: Math.min(...rates), max: Math.max(...rates) });
  // Each round's ratio to the libauparse run just before it: this VM's speed
  // moves by half within a minute, and a round's runs share it.
  const perRound = (ours, theirs) => spread(ours.map((r, run) => r / theirs[run]));
  const results = {};
  for (const interpret of freshOnly ? [false] : [false, true]) {
    const walk = interpret ? 'every field interpreted' : 'every field';
    if (!freshOnly) {
      const r = { readAuditLog: [], parseLogLine: [], auparse: [] };
      await walkReadAuditLog(file, interpret); // warm the JIT
      await walkParseLogLine(file, interpret);
      for (let run = 0; run < 5; run++) {
        r.auparse.push(auparse(interpret ? 'interpret' : undefined));
        r.readAuditLog.push(rate(await walkReadAuditLog(file, interpret)));
        r.parseLogLine.push(rate(await walkParseLogLine(file, interpret)));
      }
      results[walk] = {
        ...Object.fromEntries(Object.entries(r).map(([k, v]) => [k, summary(v)])),
        ratios: { readAuditLog: perRound(r.readAuditLog, r.auparse), parseLogLine: perRound(r.parseLogLine, r.auparse) },
      };
    }
    if (interpret) continue;
    const once = { readAuditLog: [], parseLogLine: [], auparse: [] };
    for (let run = 0; run < 5; run++) {
      once.auparse.push(auparse());
      once.readAuditLog.push(fresh('readAuditLog'));
      once.parseLogLine.push(fresh('parseLogLine'));
    }
    results[`${walk}, one walk in a fresh process`] = {
      ...Object.fromEntries(Object.entries(once).map(([k, v]) => [k, summary(v)])),
      ratios: { readAuditLog: perRound(once.readAuditLog, once.auparse), parseLogLine: perRound(once.parseLogLine, once.auparse) },
    };
  }
  return results;
}

async function logBench() {
  const mix = generatedLog(200_000);
  const walker = path.join(path.dirname(mix.file), 'auparse-walk');
  execFileSync('cc', ['-O2', '-o', walker, path.join(here, 'peers', 'auparse-walk.c'), '-lauparse']);
  const logs = [{ name: 'the corpus mix (records from other projects, unique serials)', ...mix }];
  let capture;
  try {
    if (process.getuid() === 0) {
      capture = await capturedLog(200_000);
      logs.push({ name: 'a capture made here by auditd (execs, reads of /etc, writes, failed opens, connects)', short: 'a real capture', ...capture });
      // auditd rotates its log at 8 MiB by default (max_log_file = 8): the
      // log a tool most often reads once, walked only in a fresh process.
      logs.push({ name: "the capture's first 8 MiB, the size at which auditd rotates its log by default", short: "a real capture's first 8 MiB", freshOnly: true, ...logHead(capture.file, 8 << 20) });
    }
    for (const log of logs) log.results = await logWalks(log.file, walker, log);
  } finally {
    fs.rmSync(path.dirname(mix.file), { recursive: true, force: true });
    if (capture) fs.rmSync(capture.dir, { recursive: true, force: true });
  }
  return logs.map(({ name, short, records, bytes, results }) => ({ name, short, records, bytes, results }));
}

/** The whole lines of a log that fit in its first `bytes`, beside it. */
function logHead(file, bytes) {
  const b = fs.readFileSync(file);
  const end = b.lastIndexOf(10, bytes - 1) + 1;
  const head = path.join(path.dirname(file), 'audit.log.head');
  fs.writeFileSync(head, b.subarray(0, end));
  return { file: head, records: countLines(head), bytes: end };
}

// --- live -----------------------------------------------------------------

function auditctl(...args) {
  return execFileSync('auditctl', args, { encoding: 'utf8' });
}

/** What to put back if the benchmark is interrupted (Ctrl-C, SIGTERM) mid-run. */
let restoreOnSignal;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    restoreOnSignal?.();
    process.exit(130);
  });
}

/**
 * What the generator does and the rule that audits exactly that. The default
 * is getppid from the generator (a child of this process); the exec storm's
 * calls come from the generator's children, so its rule names the program.
 */
const LOADS = {
  getppid: { env: {}, recordsPerEvent: 3, rule: () => ['-S', 'getppid', '-F', `ppid=${process.pid}`] },
  exec: { env: { GEN_CALL: 'exec', GEN_PROCS: '2' }, recordsPerEvent: 7, rule: () => ['-S', 'execve', '-F', 'success=1', '-F', `exe=${fs.realpathSync('/bin/true')}`] },
};
/** The load of the live runs under way (the exec scenario switches it for its runs). */
let load = LOADS.getppid;

/** The kernel state a live run changes, put back afterwards: rules with our key, enabled, backlog. */
async function withAuditing(run) {
  const key = `la_bench_${process.pid}`;
  const client = await AuditClient.open();
  const before = await client.getStatus();
  // Synchronous, so it can run from a signal handler: auditctl puts back what we changed.
  restoreOnSignal = () => {
    spawnSync('auditctl', ['-D', '-k', key]);
    spawnSync('auditctl', ['-b', String(before.backlogLimit)]);
    if (before.enabled !== 2) spawnSync('auditctl', ['-e', String(before.enabled)]);
  };
  try {
    if (before.pid !== 0) throw new Error(`pid ${before.pid} is registered as the audit daemon; stop it before the live benchmark`);
    if (before.enabled === 0) await client.setEnabled(1);
    if (before.backlogLimit < 8192) await client.setBacklogLimit(8192);
    auditctl('-a', 'always,exit', '-F', 'arch=b64', ...load.rule(), '-F', `key=${key}`);
    return await run(client);
  } finally {
    restoreOnSignal = undefined;
    spawnSync('auditctl', ['-D', '-k', key]);
    const now = await client.getStatus();
    if (now.enabled !== before.enabled && before.enabled !== 2) await client.setEnabled(before.enabled);
    if (now.backlogLimit !== before.backlogLimit) await client.setBacklogLimit(before.backlogLimit);
    client.close();
  }
}

/** The generator for `seconds`, at full speed or `rate` calls/s, doing what `env` says; resolves with its calls and rate. */
function generate(gen, rate, env = load.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(gen, rate ? ['0', String(seconds), String(rate)] : ['0', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => {
      const m = /calls=(\d+) seconds=([\d.]+) rate=(\d+)/.exec(out);
      resolve({ calls: Number(m[1]), rate: Number(m[3]) });
    });
  });
}

/** Latencies in whole milliseconds (Date.now() against the kernel's stamp), in fixed memory: 0 and below share the first bin, a minute and over the last. */
class LatencyHistogram {
  bins = new Uint32Array(60_001);
  count = 0;

  add(ms) {
    this.bins[Math.max(0, Math.min(this.bins.length - 1, Math.round(ms)))]++;
    this.count++;
  }

  /** The smallest latency with more than p of the samples below or at it (the nearest-rank percentile the list gave). */
  percentile(p) {
    if (this.count === 0) return undefined;
    const rank = Math.min(this.count - 1, Math.floor(this.count * p));
    for (let ms = 0, seen = 0; ms < this.bins.length; ms++) {
      seen += this.bins[ms];
      if (seen > rank) return ms;
    }
    return this.bins.length - 1;
  }
}

/**
 * Our subscriber in unicast mode while the generator runs. `consumer` says
 * what it does per event: 'keys' (iterates events and reads each one's rule
 * keys, as an agent that routes on them), 'syscall' (reads each event's
 * SYSCALL record's fields), 'fields' (decodes every field of every record),
 * 'batch-keys' (sub.batches(), each event's keys), 'keys-no-containers'
 * (keys, with subscribe({ containers: false })) or 'stall' (keys, but stops
 * for 250 ms every second).
 */
const stallCell = new Int32Array(new SharedArrayBuffer(4));
const CONSUMERS = {
  keys: 'linux-audit, reads keys',
  syscall: 'linux-audit, reads SYSCALL fields',
  fields: 'linux-audit, decodes every field',
  'batch-keys': 'linux-audit, batches, reads keys',
  'keys-no-containers': 'linux-audit, reads keys, containers not read',
  stall: 'linux-audit, stalls 250 ms/s',
};

/**
 * oursRunHere in a process of its own, as an agent runs: run after run in one
 * process, a consumer paid for the garbage and the JIT's state the one before
 * it left (reading keys by batches cost 4.26 CPU s per million events right
 * after a run decoding every field, 2.67 after one reading keys).
 */
async function oursRun(gen, consumer, rate, options = {}) {
  const spec = JSON.stringify({ gen, consumer, rate, options, load: Object.keys(LOADS).find((k) => LOADS[k] === load) });
  const v8 = semiSpace === undefined ? [] : [`--min-semi-space-size=${semiSpace}`, `--max-semi-space-size=${semiSpace}`];
  const child = spawn(process.execPath, [...v8, fileURLToPath(import.meta.url), '--seconds', String(seconds), '--child-run', spec], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  let out = '';
  child.stdio[3].on('data', (d) => (out += d));
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`the ${consumer} run failed (exit ${code})`);
  return JSON.parse(out);
}

async function oursRunHere(gen, consumer, rate, options = {}) {
  return withAuditing(async (client) => {
    const lostBefore = (await client.getStatus()).lost;
    // Multicast is how an agent listens beside auditd: the minimal reader
    // plays the registered daemon.
    const daemon = options.multicast ? await startMinReader(client) : undefined;
    const sub = subscribe({ mode: options.multicast ? 'multicast' : 'unicast', enable: true, containers: consumer !== 'keys-no-containers' });
    await sub.ready;
    const rssSeries = [];
    // Where the memory is, not only how much: V8's heap, buffers outside it, and what the channel holds.
    const rssSampler = options.rssEveryMs
      ? setInterval(() => {
          const m = process.memoryUsage();
          rssSeries.push([Date.now(), m.rss, m.heapTotal, m.heapUsed, m.arrayBuffers, sub.stats().pendingBytes]);
        }, options.rssEveryMs)
      : undefined;
    let events = 0;
    // A histogram of whole milliseconds, not a list: over the 10-minute soak
    // a list of every 64th event's latency grew to a million numbers in the
    // process whose memory is measured.
    const latencies = new LatencyHistogram();
    let nextStall = Date.now() + 1000;
    let touched = 0;
    const consume = (async () => {
      if (consumer === 'batch-keys') {
        for await (const batch of sub.batches()) {
          for (const ev of batch) {
            touched += ev.keys.length;
            // Every 64th event: how long from the syscall (the kernel's stamp) to here.
            if ((events & 63) === 0) latencies.add(Date.now() - ev.time);
            events++;
          }
        }
        return;
      }
      for await (const ev of sub) {
        if (consumer === 'fields') for (const r of ev.records) touched += r.fields === undefined ? 0 : 1;
        else if (consumer === 'syscall') touched += ev.syscall === undefined ? 0 : 1;
        else touched += ev.keys.length;
        if ((events & 63) === 0) latencies.add(Date.now() - ev.time);
        events++;
        if (consumer === 'stall' && Date.now() >= nextStall) {
          // The JS thread blocked for 250 ms (a synchronous call, a long GC
          // pause) without using a CPU: a spinning stall would take a core
          // from the generator on a two-core machine and measure that instead.
          Atomics.wait(stallCell, 0, 0, 250);
          nextStall = Date.now() + 1000;
        }
      }
    })();
    // Peak RSS during this run (maxRSS would carry earlier runs of this process).
    let peakRss = process.memoryUsage.rss();
    const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
    const cpu0 = process.cpuUsage();
    const threads0 = threadCpu();
    const t0 = process.hrtime.bigint();
    const g = await generate(gen, rate);
    // Let the tail drain: the kernel backlog and our buffers.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && sub.stats().events + sub.stats().dropped / load.recordsPerEvent < g.calls) await new Promise((r) => setTimeout(r, 50));
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const threads1 = threadCpu();
    clearInterval(rssTimer);
    clearInterval(rssSampler);
    const s = sub.stats();
    await sub.close();
    await consume;
    if (daemon) await daemon.stop();
    const cpuSec = (cpu.user + cpu.system) / 1e6;
    const kernelLost = (await client.getStatus()).lost - lostBefore;
    return {
      consumer: CONSUMERS[consumer] + (options.multicast ? ' (multicast, beside a daemon)' : ''),
      touched,
      rssSeriesMB: rssSeries.length > 0 ? rssSeries.map(([t, ...bytes]) => [t, ...bytes.map((b) => b / 1024 / 1024)]) : undefined,
      generatorCalls: g.calls,
      generatorRate: g.rate,
      records: s.records,
      recordsPerSec: s.records / wall,
      kernelLost,
      overruns: s.socketOverruns,
      dropped: s.dropped,
      cpuSeconds: cpuSec,
      cpuSecondsPerMillionEvents: (cpuSec / g.calls) * 1e6,
      cpuByThread: Object.fromEntries(Object.keys(threads1.cpu).map((k) => [k, ((threads1.cpu[k] - threads0.cpu[k]) / g.calls) * 1e6])),
      wakeupsPerEvent: Object.fromEntries(Object.keys(threads1.wakeups).map((k) => [k, (threads1.wakeups[k] - threads0.wakeups[k]) / g.calls])),
      peakRssMB: peakRss / 1024 / 1024,
      peakBufferedMB: s.peakPendingBytes / 1e6,
      cgroupReadsPerEvent: s.events > 0 ? s.cgroupReads / s.events : 0,
      latencyMs: { p50: latencies.percentile(0.5), p99: latencies.percentile(0.99) },
    };
  });
}

/**
 * CPU seconds and wake-ups so far of this process's threads, by kind: the JS
 * thread, the native reader (named la-reader), and the rest (V8's and
 * libuv's helpers, the sender).
 */
function threadCpu() {
  const cpu = { js: 0, reader: 0, other: 0 };
  const wakeups = { js: 0, reader: 0, other: 0 };
  for (const tid of fs.readdirSync('/proc/self/task')) {
    let comm;
    let sched;
    try {
      comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      sched = schedStat(`/proc/self/task/${tid}`);
    } catch {
      continue; // the thread ended meanwhile
    }
    const kind = Number(tid) === process.pid ? 'js' : comm === 'la-reader' ? 'reader' : 'other';
    cpu[kind] += sched.cpu;
    wakeups[kind] += sched.wakeups;
  }
  return { cpu, wakeups };
}

/**
 * A task's time on a CPU (seconds, to the nanosecond) and how many times it
 * was put on one (its wake-ups, near enough: a thread that blocks for each
 * batch runs once per wake-up), from schedstat. /proc's stat counts in 10 ms
 * ticks, too coarse for a thread that runs 30 µs at a time.
 */
function schedStat(task) {
  const [ns, , slices] = fs.readFileSync(`${task}/schedstat`, 'utf8').split(' ').map(Number);
  return { cpu: ns / 1e9, wakeups: slices };
}

/** The minimal C reader as the registered daemon, for runs that listen beside one. */
async function startMinReader(client) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-bench-daemon-'));
  const bin = path.join(dir, 'min-reader');
  execFileSync('cc', ['-O2', '-o', bin, path.join(here, 'peers', 'min-reader.c')]);
  const child = spawn(bin, [], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  const deadline = Date.now() + 10_000;
  while ((await client.getStatus()).pid !== child.pid) {
    if (Date.now() > deadline) throw new Error('the minimal reader did not register as the audit daemon');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A peer process as the audit daemon while the generator runs: the minimal C
 * reader, the same reading each exec's cgroup (`min-reader-cgroups`), or auditd.
 */
async function peerRun(gen, peer, rate) {
  const cgroups = peer === 'min-reader-cgroups';
  if (cgroups) peer = 'min-reader';
  return withAuditing(async (client) => {
    const lostBefore = (await client.getStatus()).lost;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-bench-peer-'));
    let child;
    if (peer === 'min-reader') {
      const bin = path.join(dir, 'min-reader');
      execFileSync('cc', ['-O2', '-o', bin, path.join(here, 'peers', 'min-reader.c')]);
      child = spawn(bin, [], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MIN_READER_CGROUPS: cgroups ? '1' : '0' } });
    } else {
      fs.mkdirSync(path.join(dir, 'plugins.d'));
      fs.writeFileSync(
        path.join(dir, 'auditd.conf'),
        [
          `log_file = ${dir}/audit.log`, 'log_format = RAW', 'flush = INCREMENTAL_ASYNC', 'freq = 50', 'write_logs = yes', 'local_events = yes',
          'max_log_file = 100000', 'num_logs = 2', 'max_log_file_action = IGNORE', 'space_left = 2', 'space_left_action = IGNORE',
          'admin_space_left = 1', 'admin_space_left_action = IGNORE', 'disk_full_action = IGNORE', 'disk_error_action = IGNORE',
          `plugin_dir = ${dir}/plugins.d`, 'name_format = NONE', '',
        ].join('\n'),
      );
      // time(1) reports auditd's CPU and peak RSS when it exits.
      child = spawn('/usr/bin/time', ['-f', 'cpu=%U+%S maxrss_kb=%M', 'auditd', '-n', '-s', 'nochange', '-c', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    }
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.on('exit', r));
    const deadline = Date.now() + 10_000;
    while ((await client.getStatus()).pid === 0) {
      if (Date.now() > deadline) throw new Error(`${peer} did not register: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The minimal reader is one thread: its wake-ups are the process's.
    const wakeups0 = peer === 'min-reader' ? schedStat(`/proc/${child.pid}`).wakeups : undefined;
    const t0 = process.hrtime.bigint();
    const g = await generate(gen, rate);
    // Drain: until the kernel's queue is empty.
    const drainEnd = Date.now() + 15_000;
    while (Date.now() < drainEnd && (await client.getStatus()).backlog > 0) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const kernelLost = (await client.getStatus()).lost - lostBefore;
    const wakeups = wakeups0 === undefined ? undefined : schedStat(`/proc/${child.pid}`).wakeups - wakeups0;
    if (peer === 'min-reader') child.kill('SIGTERM');
    else spawnSync('pkill', ['-TERM', '-x', 'auditd']);
    await exited;
    let records;
    let cpu;
    let rssKb;
    let overruns = 0;
    let cgroupFiles;
    if (peer === 'min-reader') {
      const m = /records=(\d+) bytes=\d+ enobufs=(\d+) cpu=([\d.]+) maxrss_kb=(\d+) cgroup_reads=(\d+) cgroup_gone=(\d+)/.exec(out);
      records = Number(m[1]);
      overruns = Number(m[2]);
      cpu = Number(m[3]);
      rssKb = Number(m[4]);
      if (cgroups) cgroupFiles = { perEvent: Number(m[5]) / g.calls, goneShare: Number(m[6]) / Math.max(1, Number(m[5])) };
    } else {
      const m = /cpu=([\d.]+)\+([\d.]+) maxrss_kb=(\d+)/.exec(out);
      cpu = Number(m[1]) + Number(m[2]);
      rssKb = Number(m[3]);
      // auditd writes no EOE line: count the lines (the log can pass 512 MB,
      // too long for one string) and add the events' EOEs.
      let lines = 0;
      const fd = fs.openSync(path.join(dir, 'audit.log'), 'r');
      const buf = Buffer.alloc(1 << 20);
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) for (let i = buf.indexOf(10); i >= 0 && i < n; i = buf.indexOf(10, i + 1)) lines++;
      fs.closeSync(fd);
      records = lines + g.calls;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    return {
      consumer:
        peer === 'min-reader'
          ? `${cgroups ? 'container-aware C reader (the minimal reader, reading /proc/<pid>/cgroup per exec)' : 'minimal C reader (recvmmsg, counts)'}${minReaderLoop ? ` with MIN_READER_LOOP=${minReaderLoop}` : ''}`
          : 'auditd 3.0 (log_format=RAW, to a file)',
      cgroupFiles,
      generatorCalls: g.calls,
      generatorRate: g.rate,
      records,
      recordsPerSec: records / wall,
      kernelLost,
      overruns,
      dropped: 0,
      cpuSeconds: cpu,
      cpuSecondsPerMillionEvents: (cpu / g.calls) * 1e6,
      wakeupsPerEvent: wakeups === undefined ? undefined : { reader: wakeups / g.calls },
      peakRssMB: rssKb / 1024,
    };
  });
}

/** A temporary directory removed when the harness exits, however it exits. */
function scratchDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function buildGenerator() {
  const gen = path.join(scratchDir('linux-audit-bench-'), 'syscall-gen');
  execFileSync('cc', ['-O2', '-o', gen, path.join(here, 'gen', 'syscall-gen.c')]);
  return gen;
}

async function liveBench() {
  const gen = buildGenerator();
  // Generator alone, nothing audited: what the machine does without us.
  const alone = Number(/rate=(\d+)/.exec(execFileSync(gen, ['0', '3'], { encoding: 'utf8' }))[1]);
  const runs = [];
  // --runs N: N rounds of every consumer, one after another, for medians and min–max.
  for (let round = 0; round < rounds; round++) {
    for (const c of liveConsumers) {
      if (c === 'multicast') runs.push(await oursRun(gen, 'keys', undefined, { multicast: true }));
      else if (c === 'min-reader') runs.push(await peerRun(gen, 'min-reader'));
      else if (c === 'auditd') {
        if (fs.existsSync('/usr/sbin/auditd') || fs.existsSync('/sbin/auditd')) runs.push(await peerRun(gen, 'auditd'));
      } else runs.push(await oursRun(gen, c));
    }
  }
  return { generatorUnaudited: alone, rounds, runs, ...perConsumer(runs) };
}

/** Medians and min–max per consumer over the rounds: CPU per event and the generator's rate. */
function perConsumer(runs) {
  const consumers = [...new Set(runs.map((r) => r.consumer))];
  const stat = (key) =>
    Object.fromEntries(
      consumers.map((c) => {
        const xs = runs.filter((r) => r.consumer === c).map((r) => r[key]);
        return [c, { ...spread(xs), runs: xs.length }];
      }),
    );
  // Ours only (a peer is one process, measured whole): medians of each thread kind's share.
  const byThread = Object.fromEntries(
    consumers.flatMap((c) => {
      const xs = runs.filter((r) => r.consumer === c && r.cpuByThread).map((r) => r.cpuByThread);
      return xs.length === 0 ? [] : [[c, { js: median(xs.map((x) => x.js)), reader: median(xs.map((x) => x.reader)), other: median(xs.map((x) => x.other)) }]];
    }),
  );
  // Wake-ups per event by thread kind (a peer's under reader), medians.
  const wakeups = Object.fromEntries(
    consumers.flatMap((c) => {
      const xs = runs.filter((r) => r.consumer === c && r.wakeupsPerEvent).map((r) => r.wakeupsPerEvent);
      return xs.length === 0 ? [] : [[c, Object.fromEntries(Object.keys(xs[0]).map((k) => [k, median(xs.map((x) => x[k]))]))]];
    }),
  );
  return { cpuSecondsPerMillionEvents: stat('cpuSecondsPerMillionEvents'), generatorRate: stat('generatorRate'), cpuByThread: byThread, wakeupsPerEvent: wakeups };
}

/** Full rate for `seconds` (use 600 for the 10-minute soak): RSS sampled every 10 s must stay flat. */
async function soakBench() {
  const r = await oursRun(buildGenerator(), 'keys', undefined, { rssEveryMs: 10_000 });
  const series = r.rssSeriesMB;
  // Flat means: after the first minute (warm-up), within ±10% of its mean.
  const after = series.filter(([t]) => t - series[0][0] >= 60_000);
  const flatness = (xs) => {
    const mean = xs.reduce((a, b) => a + b, 0) / (xs.length || 1);
    return { mean, min: Math.min(...xs), max: Math.max(...xs), flat: xs.every((mb) => Math.abs(mb - mean) <= mean * 0.1) };
  };
  // And what is outside V8's heap (RSS less the heap's total): our buffers,
  // the addon's, the code; the heap's size is V8's choice from GC to GC.
  return { ...r, rssSettledMB: flatness(after.map(([, rss]) => rss)), rssOutsideHeapMB: flatness(after.map(([, rss, heapTotal]) => rss - heapTotal)) };
}

/**
 * What watching costs over plain subscribe(), per event, on the same events:
 * the watch's own rules in both runs, and a generator that binds a port as
 * fast as it can (socket, bind, close), each bind an event the watch
 * inspects in full (fields, socket address, a fresh container lookup, the
 * profile). The plain consumer reads each event, as the live scenario's does.
 */
async function watchBench() {
  const gen = buildGenerator();
  const runs = [];
  // Alternating, three of each: the generator, kauditd and we share two cores, and one run is noisy.
  for (const consumer of ['subscribe', 'watch', 'subscribe', 'watch', 'subscribe', 'watch']) {
    runs.push(
      await withAuditing(async () => {
        const w = consumer === 'watch' ? watch({ learn: { ms: 0 }, subscribe: { mode: 'unicast' } }) : undefined;
        const sub = w ? w.subscription : subscribe({ mode: 'unicast', enable: true, rules: watchRules().rules });
        await sub.ready;
        let alerts = 0;
        const consume = w
          ? (async () => {
              for await (const _ of w) alerts++;
            })()
          : (async () => {
              for await (const ev of sub) void ev.keys;
            })();
        const cpu0 = process.cpuUsage();
        // The binds are audited by the watch's rules, not by withAuditing's getppid rule.
        const g = await generate(gen, undefined, { GEN_CALL: 'bind' });
        const deadline = Date.now() + 15_000;
        while (Date.now() < deadline && sub.stats().events + sub.stats().dropped / 4 < g.calls) await new Promise((r) => setTimeout(r, 50));
        const cpu = process.cpuUsage(cpu0);
        const s = sub.stats();
        const watched = w?.stats().watched;
        if (w) await w.close();
        else await sub.close();
        await consume;
        const cpuSeconds = (cpu.user + cpu.system) / 1e6;
        return { consumer, generatorCalls: g.calls, generatorRate: g.rate, events: s.events, dropped: s.dropped, kernelLost: s.kernelLost, watched, alerts, cpuSeconds, cpuUsPerEvent: (cpuSeconds / s.events) * 1e6 };
      }),
    );
  }
  const medianOf = (c) => median(runs.filter((r) => r.consumer === c).map((r) => r.cpuUsPerEvent));
  return { runs, subscribeUsPerEvent: medianOf('subscribe'), watchUsPerEvent: medianOf('watch'), ratio: medianOf('watch') / medianOf('subscribe') };
}

/**
 * Full rate for --seconds with the kernel's state churning: every second a
 * rule is added and deleted, every fifth a multicast subscriber comes, reads
 * for half a second and goes. Every generator call must be accounted for
 * (received, dropped and counted, or lost by the kernel and counted), and the
 * process's descriptors, threads and RSS must not grow.
 */
async function churnBench() {
  const gen = buildGenerator();
  return withAuditing(async (client) => {
    const key = `la_bench_${process.pid}`;
    const lostBefore = (await client.getStatus()).lost;
    const res = () => ({ fds: fs.readdirSync('/proc/self/fd').length, threads: fs.readdirSync('/proc/self/task').length, rssMB: process.memoryUsage.rss() / 1024 / 1024 });
    const base = res();
    const sub = subscribe({ mode: 'unicast', enable: true });
    await sub.ready;
    let received = 0;
    const consume = (async () => {
      for await (const ev of sub) if (ev.syscall !== undefined && ev.keys.includes(key)) received++;
    })();
    const samples = [];
    const sampler = setInterval(() => samples.push({ t: Date.now(), ...res() }), 10_000);
    let stop = false;
    let churns = 0;
    let visitors = 0;
    let visitorEvents = 0;
    const churn = (async () => {
      while (!stop) {
        const rule = `-a always,exit -F arch=b64 -S getpid -F key=la_churn_${process.pid}`;
        await client.addRule(rule);
        await client.deleteRule(rule);
        churns++;
        if (churns % 5 === 0) {
          const v = subscribe({ mode: 'multicast' });
          await v.ready;
          const until = Date.now() + 500;
          for await (const _ of v) {
            visitorEvents++;
            if (Date.now() > until) break;
          }
          visitors++;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    const g = await generate(gen);
    stop = true;
    await churn;
    const deadline = Date.now() + 15_000;
    // Drained: every call in (a dropped event is three datagrams), or nothing new for two seconds.
    let last = -1;
    let still = Date.now();
    while (Date.now() < deadline && received + sub.stats().dropped / 3 < g.calls && Date.now() - still < 2000) {
      const n = sub.stats().records;
      if (n !== last) (last = n), (still = Date.now());
      await new Promise((r) => setTimeout(r, 50));
    }
    clearInterval(sampler);
    const s = sub.stats();
    await sub.close();
    await consume;
    const kernelLost = (await client.getStatus()).lost - lostBefore;
    // dropped, overruns and the kernel's lost count records, not calls: a call
    // whose SYSCALL record was among them is missing from received (its
    // PROCTITLE may have arrived alone). What the counters cannot cover is
    // unaccounted.
    const unaccounted = Math.max(0, g.calls - received - s.dropped - kernelLost - s.socketOverruns);
    return { seconds, generatorCalls: g.calls, generatorRate: g.rate, received, dropped: s.dropped, kernelLost, overruns: s.socketOverruns, unaccounted, churns, visitors, visitorEvents, base, end: res(), samples };
  });
}

/** An execve storm (two processes vfork+exec /bin/true as fast as they can): each consumer in turn, as in live. */
async function execBench() {
  const gen = buildGenerator();
  load = LOADS.exec;
  try {
    const runs = [];
    for (let round = 0; round < rounds; round++) {
      // keys with and without the reader thread reading containers: what that costs where it costs most
      // (each exec is read afresh, never from the cache).
      for (const c of execConsumers) {
        if (c === 'min-reader' || c === 'min-reader-cgroups') runs.push(await peerRun(gen, c));
        else if (c === 'auditd') {
          if (fs.existsSync('/usr/sbin/auditd') || fs.existsSync('/sbin/auditd')) runs.push(await peerRun(gen, 'auditd'));
        } else runs.push(await oursRun(gen, c));
      }
    }
    return { rounds, runs, ...perConsumer(runs) };
  } finally {
    load = LOADS.getppid;
  }
}

/** The consumer stops for 250 ms every second at full load: what is lost, and where it is counted. */
async function stallBench() {
  const gen = buildGenerator();
  const runs = [];
  for (let round = 0; round < rounds; round++) runs.push(await oursRun(gen, 'stall'), await peerRun(gen, 'min-reader'));
  return { rounds, runs, ...perConsumer(runs) };
}

/** Cost as the rate doubles, ours and the minimal reader, up to full speed. */
async function scaleBench() {
  const gen = buildGenerator();
  const points = [];
  for (const rate of [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 0]) {
    const ours = await oursRun(gen, 'keys', rate);
    const reader = await peerRun(gen, 'min-reader', rate);
    points.push({ requestedRate: rate || 'full', ours, reader });
  }
  return points;
}

/** CPU per event against rate, one line per consumer, as SVG. */
function scaleSvg(points) {
  const W = 640, H = 360, L = 70, B = 50, T = 20, R = 20;
  const series = [
    ['linux-audit', '#1f77b4', points.map((p) => [p.ours.generatorRate, (p.ours.cpuSeconds / p.ours.generatorCalls) * 1e6])],
    ['minimal C reader', '#d62728', points.map((p) => [p.reader.generatorRate, (p.reader.cpuSeconds / p.reader.generatorCalls) * 1e6])],
  ];
  const xs = series.flatMap(([, , pts]) => pts.map(([x]) => x)).filter((x) => x > 0);
  const ys = series.flatMap(([, , pts]) => pts.map(([, y]) => y));
  const xMin = Math.log10(Math.min(...xs)), xMax = Math.log10(Math.max(...xs));
  const yMax = Math.max(...ys) * 1.1;
  const px = (x) => L + ((Math.log10(x) - xMin) / (xMax - xMin || 1)) * (W - L - R);
  const py = (y) => H - B - (y / yMax) * (H - B - T);
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`;
  svg += `<rect width="${W}" height="${H}" fill="white"/>`;
  svg += `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`;
  for (const [x] of series[0][2]) if (x > 0) svg += `<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${Math.round(x / 1000)}k</text>`;
  for (let i = 0; i <= 4; i++) svg += `<text x="${L - 6}" y="${py((yMax * i) / 4) + 4}" text-anchor="end">${((yMax * i) / 4).toFixed(1)}</text>`;
  svg += `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">audited syscalls per second (log scale)</text>`;
  svg += `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">consumer CPU µs per event</text>`;
  series.forEach(([name, color, pts], i) => {
    const d = pts.filter(([x]) => x > 0).map(([x, y], k) => `${k ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    svg += `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`;
    for (const [x, y] of pts) if (x > 0) svg += `<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${color}"/>`;
    svg += `<text x="${L + 10}" y="${T + 14 + i * 16}" fill="${color}">${name}</text>`;
  });
  return svg + '</svg>\n';
}

// --- rules ----------------------------------------------------------------

/** 1,000 distinct rules of the kinds real files hold: syscall rules with filters, and watches. */
function ruleFile(dir) {
  const syscalls = ['openat', 'execve', 'connect', 'bind', 'chmod', 'fchmodat', 'unlinkat', 'renameat', 'setuid', 'mount', 'ptrace', 'init_module'];
  const lines = [];
  for (let i = 0; i < 500; i++) {
    lines.push(`-a always,exit -F arch=b64 -S ${syscalls[i % syscalls.length]},${syscalls[(i + 5) % syscalls.length]} -F auid>=1000 -F auid!=unset -F exit=-EACCES -F key=bench_${i}`);
    lines.push(`-w ${dir}/file_${i} -p wa -k bench_w${i}`);
  }
  return lines.join('\n') + '\n';
}

async function rulesBench() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-bench-rules-'));
  const text = ruleFile(dir);
  const file = path.join(dir, 'bench.rules');
  fs.writeFileSync(file, text);
  const times = [];
  for (let run = 0; run < 7; run++) {
    const t0 = process.hrtime.bigint();
    const parsed = parseRules(text, { expandPerm: false });
    for (const { command } of parsed) encodeRule(command.rule);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const result = { rules: 1000, parseAndEncodeMs: median(times.slice(2)), parseAndEncodeMinMax: [Math.min(...times.slice(2)), Math.max(...times.slice(2))] };
  if (process.getuid() === 0) {
    const client = await AuditClient.open();
    try {
      const before = await client.listRules();
      if (before.length > 0) throw new Error('the kernel has rules loaded; the rules benchmark needs an empty rule set');
      let t0 = process.hrtime.bigint();
      const loaded = await client.loadRules({ path: file });
      result.oursLoadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      result.oursRulesPerSec = loaded.added / result.oursLoadSeconds;
      await client.deleteAllRules();
      t0 = process.hrtime.bigint();
      execFileSync('auditctl', ['-R', file]);
      result.auditctlLoadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      result.auditctlRulesPerSec = 1000 / result.auditctlLoadSeconds;
    } finally {
      await client.deleteAllRules().catch(() => undefined);
      client.close();
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return result;
}

// --- format ---------------------------------------------------------------

async function formatBench() {
  const files = ['go-libaudit/auparse/audit-rhel7.log', 'go-libaudit/auparse/audit-ubuntu16.log', 'elastic-beats/auditbeat-auditd-testdata/sudo.log'];
  const text = files.map((f) => fs.readFileSync(path.join(corpus, f), 'utf8')).join('\n');
  let count = 0;
  // Fresh events each round: an event caches its decoded fields, and a real
  // stream formats each event once.
  const load = async () => {
    const out = [];
    for (let rep = 0; rep < 40; rep++) for await (const ev of readAuditLog([text])) out.push(ev);
    return out;
  };
  const json = new SyslogFormatter({ hostname: 'h' });
  const raw = new SyslogFormatter({ hostname: 'h', payload: 'raw' });
  const outputs = {
    'json (tail --format json)': (ev) => formatEvent(ev, 'json'),
    'text (tail --format text)': (ev) => formatEvent(ev, 'text'),
    'raw (tail --format raw)': (ev) => formatEvent(ev, 'raw'),
    'syslog, json payload (forward)': (ev) => json.messages(ev),
    'syslog, raw payload (forward)': (ev) => raw.messages(ev),
  };
  const results = {};
  for (const [name, fn] of Object.entries(outputs)) {
    const rates = [];
    for (let run = 0; run < 5; run++) {
      const evs = await load();
      count = evs.length;
      const t0 = process.hrtime.bigint();
      for (const ev of evs) fn(ev);
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (run > 0) rates.push(evs.length / dt);
    }
    results[name] = { eventsPerSec: median(rates), min: Math.min(...rates), max: Math.max(...rates) };
  }
  return { events: count, results };
}

// --- scaling --------------------------------------------------------------

async function scalingBench() {
  const { LOG_SHAPES, RULE_SHAPES } = await import('./hostile.mjs');
  const { Assembler } = await lib('assemble/assembler.js');
  const { parseRuleLine } = await lib('rules.js');
  const json = new SyslogFormatter({ hostname: 'h' });
  // The log reader's work without its line bound (which would cut these
  // lines and hide the scanners' cost): every output of every event.
  const logWork = (text) => {
    const events = [];
    const a = new Assembler((ev) => events.push(ev), { expectEndOfEvent: false });
    for (const l of text.split('\n')) {
      const r = parseLogLine(l);
      if (r) a.push(r, r.time);
    }
    a.flush();
    for (const ev of events) {
      JSON.stringify(ev);
      formatEvent(ev, 'text');
      formatEvent(ev, 'raw');
      json.messages(ev);
      void ev.argv;
    }
  };
  const ruleWork = (text) => {
    try {
      parseRuleLine(text);
    } catch (e) {
      if (e.name !== 'RuleSyntaxError') throw e;
    }
  };
  const n = 256 * 1024;
  // Medians of 11: a run at n takes a few milliseconds, and one collection or
  // preemption in five moved a shape's ratio by a whole unit (4.3 to 5.5).
  const timeOf = (work, text) => {
    const xs = [];
    for (let i = 0; i < 11; i++) {
      const t = performance.now();
      work(text);
      xs.push(performance.now() - t);
    }
    return spread(xs);
  };
  const rows = [];
  for (const [kind, shapes, work] of [['log', LOG_SHAPES, logWork], ['rule', RULE_SHAPES, ruleWork]]) {
    for (const s of shapes) {
      const small = s.build(n);
      const large = s.build(4 * n);
      work(small); // warm
      const a = timeOf(work, small);
      const b = timeOf(work, large);
      rows.push({ kind, shape: s.name, bytes: [small.length, large.length], ms: [a, b], ratio: b.median / a.median });
    }
  }
  return { rows, worst: rows.reduce((w, r) => (r.ratio > w.ratio ? r : w)) };
}

// --- size -----------------------------------------------------------------

async function sizeBench() {
  const dir = path.join(corpus, 'laurel');
  const rows = [];
  for (const name of fs.readdirSync(dir).filter((n) => /^record-.*\.txt$/.test(n)).sort()) {
    const laurel = path.join(dir, name.replace(/\.txt$/, '.json'));
    if (!fs.existsSync(laurel)) continue;
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    const events = [];
    for await (const ev of readAuditLog([text], { expectEndOfEvent: true })) events.push(ev);
    const bytes = (records) => events.reduce((n, ev) => n + Buffer.byteLength(formatEvent(ev, 'json', false, records)) + 1, 0);
    rows.push({ file: name, events: events.length, raw: Buffer.byteLength(text), laurel: fs.statSync(laurel).size, full: bytes('full'), fields: bytes('fields'), none: bytes('none') });
  }
  const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
  return { rows, total: { raw: sum('raw'), laurel: sum('laurel'), full: sum('full'), fields: sum('fields'), none: sum('none') } };
}

// --- spool ----------------------------------------------------------------

/**
 * A stream sink's spool without the network: the corpus events as syslog
 * JSON messages, through the memory spool and the disk spool. "keeping up":
 * each message taken, and every 128 (a RELP window) read and released, as a
 * sink whose receiver keeps pace; "backlog": all taken while the receiver is
 * away, then read back and released. Messages/s, medians of 5 (min–max).
 */
async function spoolBench() {
  const { MemorySpool, DiskSpool } = await lib('sinks/spool.js');
  const formatter = new SyslogFormatter({});
  const events = [];
  for (const f of ['go-libaudit/auparse/audit-rhel7.log', 'laurel/record-execve-long.txt', 'elastic-beats/auditbeat-auditd-testdata/sudo.log']) {
    for await (const ev of readAuditLog([fs.readFileSync(path.join(corpus, f), 'utf8')])) events.push(ev);
  }
  const messages = events.flatMap((ev) => formatter.messages(ev));
  const n = 200_000;
  const bytes = Array.from({ length: n }, (_, i) => Buffer.byteLength(messages[i % messages.length])).reduce((a, b) => a + b, 0);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-bench-spool-'));
  const make = (kind, k) => (kind === 'memory' ? new MemorySpool(2 ** 40) : new DiskSpool(path.join(scratch, String(k)), { maxBytes: 2 ** 40 }));
  const drain = (spool, window) => {
    const m = Math.min(window, spool.available());
    for (let j = 0; j < m; j++) void spool.at(j).text;
    spool.release(m);
  };
  const shapes = {
    'keeping up': (spool) => {
      for (let i = 0; i < n; i++) {
        spool.pushAll([messages[i % messages.length]]);
        if ((i & 127) === 127) drain(spool, 128);
      }
      while (spool.length > 0) drain(spool, 128);
    },
    backlog: (spool) => {
      for (let i = 0; i < n; i++) spool.pushAll([messages[i % messages.length]]);
      while (spool.length > 0) drain(spool, 128);
    },
  };
  const rows = [];
  let k = 0;
  try {
    for (const [shape, work] of Object.entries(shapes)) {
      const rates = { memory: [], disk: [] };
      for (let r = 0; r < 5; r++) {
        for (const kind of ['memory', 'disk']) {
          const spool = make(kind, k++);
          const t = process.hrtime.bigint();
          work(spool);
          const secs = Number(process.hrtime.bigint() - t) / 1e9;
          spool.close();
          rates[kind].push(n / secs);
        }
      }
      rows.push({ shape, memory: spread(rates.memory), disk: spread(rates.disk), ratio: median(rates.disk) / median(rates.memory) });
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return { messages: n, averageBytes: Math.round(bytes / n), directory: os.tmpdir(), rows };
}

// --- wake -----------------------------------------------------------------

/**
 * What a wake-up and a system call cost here, on an otherwise idle machine.
 * A reader that waits for each event (the minimal reader in the exec storm:
 * 0.8 wake-ups per event) pays a wake-up per event, and JS woken once per
 * batch pays Node's own, whatever work it then does. The C thread sleeps and
 * wakes; Node, in a process of its own, runs an empty setInterval (its timers
 * do not go below 1 ms). Each is charged as the benchmark charges consumers:
 * the kernel's CPU time of the thread.
 */
async function wakeBench() {
  const bin = path.join(scratchDir('linux-audit-bench-wake-'), 'wake-floor');
  execFileSync('cc', ['-O2', '-o', bin, path.join(here, 'peers', 'wake-floor.c')]);
  // [interval µs, wake-ups]: about a second or two each. 350 µs is the exec
  // storm's spacing (some 2,800 events/s); 5 ms subscribe()'s latencyMs.
  const cPlan = [[100, 2000], [350, 2000], [1000, 1000], [5000, 300], [20000, 100]];
  const nodePlan = [[1000, 1000], [5000, 300], [20000, 100]];
  const nodeTimer = `
    const fs = require('fs');
    const cpu = () => Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
    const out = [];
    (async () => {
      for (const [us, count] of JSON.parse(process.argv[1])) {
        await new Promise((done) => {
          let n = 0;
          const before = cpu();
          const t = setInterval(() => {
            if (++n < count) return;
            clearInterval(t);
            out.push([us, (cpu() - before) / count / 1000]);
            done();
          }, us / 1000);
        });
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  const c = {};
  const node = {};
  const syscallNs = [];
  const n = Math.max(rounds, 3);
  for (let round = 0; round < n; round++) {
    for (const line of execFileSync(bin, cPlan.map(([us, count]) => `${us}:${count}`), { encoding: 'utf8' }).trim().split('\n')) {
      const m = /interval_us=(\d+) wake ns=(\d+)/.exec(line);
      (c[m[1]] ??= []).push(Number(m[2]) / 1000);
    }
    for (const [us, perTick] of JSON.parse(execFileSync(process.execPath, ['-e', nodeTimer, JSON.stringify(nodePlan)], { encoding: 'utf8' }))) (node[us] ??= []).push(perTick);
    syscallNs.push(Number(/ns=([\d.]+)/.exec(execFileSync(bin, ['syscall', '1000000'], { encoding: 'utf8' }))[1]));
  }
  const perInterval = (runs) => Object.fromEntries(Object.entries(runs).map(([us, xs]) => [us, spread(xs)]));
  return { rounds: n, cMicrosPerWake: perInterval(c), nodeMicrosPerTick: perInterval(node), syscallNs: spread(syscallNs) };
}

// --- report ---------------------------------------------------------------

/** The commit measured, with "-dirty" when the work tree had changes; unknown outside a clone. */
function gitCommit() {
  const run = (args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = run(['rev-parse', 'HEAD']);
  if (head.status !== 0) return 'unknown';
  const dirty = run(['status', '--porcelain', '--untracked-files=no']).stdout.trim() !== '';
  return head.stdout.trim() + (dirty ? '-dirty' : '');
}

if (childRunAt >= 0) {
  const spec = JSON.parse(argv[childRunAt + 1]);
  load = LOADS[spec.load];
  const result = await oursRunHere(spec.gen, spec.consumer, spec.rate ?? undefined, spec.options);
  fs.writeSync(3, JSON.stringify(result));
  process.exit(0);
}

const machine = {
  host: os.hostname(),
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  kernel: os.release(),
  node: process.version,
  date: new Date().toISOString(),
  // What was measured and how to measure it again.
  commit: gitCommit(),
  command: `npm run bench --${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`,
};
const report = { machine };
// What the run prints is kept with its numbers, for --report.
const printed = [];
const print = console.log;
console.log = (...parts) => {
  printed.push(parts.join(' '));
  print(...parts);
};
console.log(`# linux-audit benchmark\n\n${machine.cpus} × ${machine.cpuModel}, Linux ${machine.kernel}, Node ${machine.node}, commit ${machine.commit}\n`);

// decode, log and format read test/corpus (in a clone; LINUX_AUDIT_CORPUS points
// elsewhere); the installed package does not ship it.
const haveCorpus = fs.existsSync(corpus);
const needsCorpus = ['decode', 'log', 'format'].filter((n) => run(n));
if (!haveCorpus && needsCorpus.length > 0) {
  console.log(`## ${needsCorpus.join(', ')}\n\nskipped: no corpus at ${corpus} (run from a clone of the repository, or set LINUX_AUDIT_CORPUS to its test/corpus)\n`);
}

if (haveCorpus && run('decode')) {
  const d = (report.decode = decodeBench());
  console.log(`## decode (JS over native batches: ${d.records} records in ${d.events} events and ${d.batches} batches, ${d.distinctRecords} distinct records from the corpus, ${(d.bytes / 1e6).toFixed(1)} MB; one core)\n`);
  console.log('| what JS reads | records/s (median of 5) | min–max | events/s |\n|---|---:|---:|---:|');
  for (const [name, r] of Object.entries(d.results)) {
    console.log(`| ${name} | ${Math.round(r.recordsPerSec).toLocaleString('en')} | ${Math.round(r.min).toLocaleString('en')}–${Math.round(r.max).toLocaleString('en')} | ${Math.round(r.eventsPerSec).toLocaleString('en')} |`);
  }
  console.log('');
}

if (haveCorpus && run('log')) {
  const logs = (report.log = await logBench());
  for (const l of logs) {
    console.log(`## log: ${l.name}: ${l.records.toLocaleString('en')} records, ${(l.bytes / 1e6).toFixed(1)} MB\n`);
    console.log('Each reads the file and walks every field of every record: ours through `readAuditLog` (events) and through `parseLogLine` over the lines of the file streamed as text (records), with `record.fields` or `record.interpreted`; libauparse through `bench/peers/auparse-walk.c` with `auparse_get_field_str` or `auparse_interpret_field`. Five rounds, each running libauparse, `readAuditLog` and `parseLogLine` in turn, ours in this process after a warm-up walk; then, for every field, five more with each of ours once in a fresh process (`bench/log-walk.mjs`: what a tool that reads one log once pays, compiling as it goes; libauparse\'s walker is a fresh process every run). Medians (min–max) of the rates, and of each round\'s ratios to libauparse.\n');
    console.log('| walk | readAuditLog records/s | parseLogLine records/s | libauparse records/s | ratios per round, readAuditLog; parseLogLine |\n|---|---:|---:|---:|---:|');
    for (const [name, r] of Object.entries(l.results)) {
      const f = (x) => `${Math.round(x.recordsPerSec).toLocaleString('en')} (${Math.round(x.min).toLocaleString('en')}–${Math.round(x.max).toLocaleString('en')})`;
      const q = (x) => `${x.median.toFixed(2)}× (${x.min.toFixed(2)}–${x.max.toFixed(2)})`;
      console.log(`| ${name} | ${f(r.readAuditLog)} | ${f(r.parseLogLine)} | ${f(r.auparse)} | ${q(r.ratios.readAuditLog)}; ${q(r.ratios.parseLogLine)} |`);
    }
    console.log('');
  }
}

const liveRow = (r, alone) =>
  `| ${r.consumer} | ${Math.round(r.generatorRate).toLocaleString('en')} (${((r.generatorRate / alone) * 100).toFixed(0)}% of unaudited) | ${r.records.toLocaleString('en')} | ${Math.round(r.recordsPerSec).toLocaleString('en')} | ${r.kernelLost} | ${r.overruns} | ${r.dropped.toLocaleString('en')} | ${r.cpuSecondsPerMillionEvents.toFixed(2)} | ${r.cpuByThread ? `${r.cpuByThread.js.toFixed(2)} / ${r.cpuByThread.reader.toFixed(2)} / ${r.cpuByThread.other.toFixed(2)}` : '–'} | ${r.peakRssMB.toFixed(0)} | ${r.latencyMs ? `${r.latencyMs.p50} / ${r.latencyMs.p99}` : '–'} |`;
/**
 * Per consumer, medians (min–max) over the rounds of CPU per event and of the
 * generator's rate, each also as a ratio to the minimal C reader's median in
 * the same invocation: the figures the targets are stated in.
 */
function printRatios(result) {
  const cpu = result.cpuSecondsPerMillionEvents;
  const gen = result.generatorRate;
  const readerName = Object.keys(cpu).find((c) => c.startsWith('minimal'));
  const auditdName = Object.keys(cpu).find((c) => c.startsWith('auditd'));
  const range = (x, digits) => `${x.median.toFixed(digits)} (${x.min.toFixed(digits)}–${x.max.toFixed(digits)})`;
  console.log(`\nOver ${result.rounds} round${result.rounds > 1 ? 's' : ''}, medians (min–max):\n`);
  console.log('| consumer | CPU s / M events | of it JS / reader / other | wake-ups / event JS / reader | × reader | × auditd | generator calls/s | × under the reader |\n|---|---:|---:|---:|---:|---:|---:|---:|');
  // --consumers may leave out either peer: no ratio against one not run.
  const ratio = (a, b) => (b === undefined ? '–' : (a / b).toFixed(2));
  for (const c of Object.keys(cpu)) {
    const t = result.cpuByThread?.[c];
    const threads = t ? `${t.js.toFixed(2)} / ${t.reader.toFixed(2)} / ${t.other.toFixed(2)}` : '–';
    const w = result.wakeupsPerEvent?.[c];
    const wakeups = w ? (w.js === undefined ? `– / ${w.reader.toFixed(3)}` : `${w.js.toFixed(3)} / ${w.reader.toFixed(3)}`) : '–';
    console.log(`| ${c} | ${range(cpu[c], 2)} | ${threads} | ${wakeups} | ${ratio(cpu[c].median, cpu[readerName]?.median)} | ${ratio(cpu[c].median, cpu[auditdName]?.median)} | ${range(gen[c], 0)} | ${ratio(gen[c].median, gen[readerName]?.median)} |`);
  }
  console.log('');
}

/**
 * The exec storm against the container-aware C reader: what reading each
 * exec's cgroup costs a reader that does nothing else, the floor for ours.
 */
function printFloor(result) {
  const cpu = result.cpuSecondsPerMillionEvents;
  const awareName = Object.keys(cpu).find((c) => c.startsWith('container-aware'));
  const readerName = Object.keys(cpu).find((c) => c.startsWith('minimal'));
  if (awareName === undefined) return;
  const files = result.runs.filter((r) => r.consumer === awareName).map((r) => r.cgroupFiles);
  console.log(`The container-aware C reader read ${median(files.map((f) => f.perEvent)).toFixed(2)} cgroup files per event (medians; ${(median(files.map((f) => f.goneShare)) * 100).toFixed(0)}% of its processes already gone)${readerName ? `: ${(cpu[awareName].median / cpu[readerName].median).toFixed(2)}× the minimal reader` : ''}.\n`);
  for (const c of Object.keys(cpu).filter((x) => x.startsWith('linux-audit'))) console.log(`- ${c}: ${(cpu[c].median / cpu[awareName].median).toFixed(2)}× the container-aware C reader`);
  console.log('');
}

const LIVE_HEAD = '| consumer | generator calls/s | records | records/s | kernel lost | socket overruns | dropped (counted) | CPU s / M events | of it JS / reader / other | peak RSS MB | latency p50 / p99 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';

if (run('live') || run('exec') || run('stall') || run('scale') || which.includes('soak') || which.includes('churn')) {
  if (process.getuid() !== 0) {
    console.log('## live\n\nskipped: needs root\n');
  } else {
    let alone;
    if (run('live')) {
      const l = (report.live = await liveBench());
      alone = l.generatorUnaudited;
      console.log(`## live (unicast, getppid generator at full speed for ${seconds} s; each call is one event of 3 records)\n`);
      console.log(`generator with no rule: ${alone.toLocaleString('en')} calls/s\n`);
      console.log(LIVE_HEAD);
      for (const r of l.runs) console.log(liveRow(r, alone));
      printRatios(l);
    }
    alone ??= Number(/rate=(\d+)/.exec(execFileSync(buildGenerator(), ['0', '3'], { encoding: 'utf8' }))[1]);
    if (run('exec')) {
      const e = (report.exec = await execBench());
      const storm = Number(/rate=(\d+)/.exec(execFileSync(buildGenerator(), ['0', '3'], { encoding: 'utf8', env: { ...process.env, ...LOADS.exec.env } }))[1]);
      console.log(`## exec (two processes vfork and exec /bin/true as fast as they can for ${seconds} s; each exec is one event of 7 records)\n`);
      console.log(`exec storm with no rule: ${storm.toLocaleString('en')} execs/s\n`);
      console.log(LIVE_HEAD);
      for (const r of e.runs) console.log(liveRow(r, storm));
      printRatios(e);
      printFloor(e);
    }
    if (run('stall')) {
      const r = (report.stall = await stallBench());
      console.log(`## stall (our consumer blocks for 250 ms every second, generator at full speed for ${seconds} s)\n`);
      console.log(LIVE_HEAD);
      for (const x of r.runs) console.log(liveRow(x, alone));
      for (const x of r.runs.filter((y) => y.consumer.startsWith('linux-audit'))) {
        console.log(`\nEvery record is accounted for: ${x.records.toLocaleString('en')} received + ${x.dropped.toLocaleString('en')} dropped by our bounded buffer (counted in stats().dropped) + ${x.kernelLost} lost by the kernel (stats().kernelLost) + ${x.overruns} socket overruns (stats().socketOverruns).`);
      }
      printRatios(r);
    }
    if (which.includes('churn')) {
      const r = (report.churn = await churnBench());
      console.log(`## churn (full rate for ${seconds} s; a rule added and deleted every second, a multicast subscriber every five)\n`);
      console.log('| generator calls | received | dropped (counted) | kernel lost | overruns | unaccounted | rule churns | visitors | fds start→end | threads start→end | RSS MB start→end (min–max) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|');
      const rss = r.samples.map((x) => x.rssMB);
      console.log(`| ${r.generatorCalls.toLocaleString('en')} | ${r.received.toLocaleString('en')} | ${r.dropped.toLocaleString('en')} | ${r.kernelLost} | ${r.overruns} | ${r.unaccounted} | ${r.churns} | ${r.visitors} | ${r.base.fds}→${r.end.fds} | ${r.base.threads}→${r.end.threads} | ${r.base.rssMB.toFixed(0)}→${r.end.rssMB.toFixed(0)} (${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)}) |\n`);
    }
    // soak runs only when named: it is as long as --seconds says (600 for the 10-minute run).
    if (which.includes('soak')) {
      const r = (report.soak = await soakBench());
      console.log(`## soak (full rate for ${seconds} s, RSS every 10 s)\n`);
      console.log(LIVE_HEAD);
      console.log(liveRow(r, alone));
      const m = r.rssSettledMB;
      const o = r.rssOutsideHeapMB;
      console.log(`\nRSS after the first minute: mean ${m.mean.toFixed(0)} MB, ${m.min.toFixed(0)}–${m.max.toFixed(0)} MB: ${m.flat ? 'flat (within ±10%)' : 'NOT flat (beyond ±10%)'}; outside V8's heap: mean ${o.mean.toFixed(0)} MB, ${o.min.toFixed(0)}–${o.max.toFixed(0)} MB: ${o.flat ? 'flat' : 'NOT flat'}.\n`);
    }
    if (run('scale')) {
      const points = (report.scale = await scaleBench());
      console.log(`## scale (${seconds} s per point; CPU per event as the rate doubles)\n`);
      console.log('| requested calls/s | achieved | linux-audit CPU µs/event | dropped | minimal reader CPU µs/event | ratio |\n|---:|---:|---:|---:|---:|---:|');
      for (const p of points) {
        const a = (p.ours.cpuSeconds / p.ours.generatorCalls) * 1e6;
        const b = (p.reader.cpuSeconds / p.reader.generatorCalls) * 1e6;
        console.log(`| ${p.requestedRate.toLocaleString('en')} | ${Math.round(p.ours.generatorRate).toLocaleString('en')} | ${a.toFixed(2)} | ${p.ours.dropped.toLocaleString('en')} | ${b.toFixed(2)} | ${(a / b).toFixed(2)}× |`);
      }
      const svg = path.join(here, 'results', `${machine.date.slice(0, 10)}-${machine.host}-scale.svg`);
      fs.mkdirSync(path.dirname(svg), { recursive: true });
      fs.writeFileSync(svg, scaleSvg(points));
      console.log(`\nplot: ${path.relative(process.cwd(), svg)}\n`);
    }
  }
}

if (run('rules')) {
  const r = (report.rules = await rulesBench());
  console.log('## rules (1,000-rule file: 500 syscall rules with filters, 500 watches)\n');
  console.log(`parse + encode: ${r.parseAndEncodeMs.toFixed(1)} ms (median; ${r.parseAndEncodeMinMax.map((x) => x.toFixed(1)).join('–')} ms)\n`);
  if (r.oursRulesPerSec) {
    console.log('| loader | seconds | rules/s |\n|---|---:|---:|');
    console.log(`| linux-audit loadRules | ${r.oursLoadSeconds.toFixed(3)} | ${Math.round(r.oursRulesPerSec).toLocaleString('en')} |`);
    console.log(`| auditctl -R | ${r.auditctlLoadSeconds.toFixed(3)} | ${Math.round(r.auditctlRulesPerSec).toLocaleString('en')} |`);
    console.log(`\nratio: ${(r.oursRulesPerSec / r.auditctlRulesPerSec).toFixed(2)}× auditctl\n`);
  }
}

if (run('watch')) {
  const r = (report.watch = await watchBench());
  console.log(`## watch (${seconds} s of bind() as fast as the generator can; the watch's rules in both runs)\n`);
  console.log('| consumer | binds/s | events | dropped | kernel lost | CPU µs / event |\n|---|---:|---:|---:|---:|---:|');
  for (const x of r.runs) console.log(`| ${x.consumer === 'watch' ? 'watch() (inspects every event)' : 'subscribe() (reads every event)'} | ${x.generatorRate.toLocaleString('en')} | ${x.events.toLocaleString('en')} | ${x.dropped.toLocaleString('en')} | ${x.kernelLost} | ${x.cpuUsPerEvent.toFixed(2)} |`);
  console.log(`\nmedians: subscribe() ${r.subscribeUsPerEvent.toFixed(2)} µs/event, watch() ${r.watchUsPerEvent.toFixed(2)} µs/event: watching costs ${((r.ratio - 1) * 100).toFixed(0)}% more CPU per event (target: at most 20%)\n`);
}

if (which.includes('wake')) {
  const r = (report.wake = await wakeBench());
  console.log(`## wake (CPU time the kernel charges a thread per wake-up: a C thread sleeping, an empty Node timer; ${r.rounds} rounds, medians (min–max))\n`);
  console.log('| interval | C thread, µs per wake-up | Node, empty setInterval, µs per tick |\n|---|---:|---:|');
  const us = (x) => (x === undefined ? '–' : `${x.median.toFixed(1)} (${x.min.toFixed(1)}–${x.max.toFixed(1)})`);
  for (const interval of Object.keys(r.cMicrosPerWake)) {
    console.log(`| ${Number(interval) >= 1000 ? `${Number(interval) / 1000} ms` : `${interval} µs`} | ${us(r.cMicrosPerWake[interval])} | ${us(r.nodeMicrosPerTick[interval])} |`);
  }
  console.log(`\na system call that does nothing (getpid): ${r.syscallNs.median.toFixed(0)} ns (${r.syscallNs.min.toFixed(0)}–${r.syscallNs.max.toFixed(0)})\n`);
}

if (which.includes('scaling')) {
  const r = (report.scaling = await scalingBench());
  console.log('## scaling (hostile input at n and 4n; medians of 11, ms (min–max); linear is 4×)\n');
  console.log('| input | shape | n bytes | ms at n | ms at 4n | ratio |\n|---|---|---:|---:|---:|---:|');
  const ms = (x) => `${x.median.toFixed(1)} (${x.min.toFixed(1)}–${x.max.toFixed(1)})`;
  for (const x of r.rows) console.log(`| ${x.kind} | ${x.shape} | ${x.bytes[0].toLocaleString('en')} | ${ms(x.ms[0])} | ${ms(x.ms[1])} | ${x.ratio.toFixed(2)}× |`);
  console.log(`\nworst: ${r.worst.ratio.toFixed(2)}× (${r.worst.kind}: ${r.worst.shape}; bound: 5×)\n`);
}

if (haveCorpus && which.includes('size')) {
  const r = (report.size = await sizeBench());
  console.log("## size (bytes of JSON for laurel's test records: the raw lines, laurel's JSON, ours with records full, fields, none)\n");
  console.log('| records | events | raw | laurel | full | fields | none |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const x of r.rows) console.log(`| ${x.file} | ${x.events} | ${x.raw} | ${x.laurel} | ${x.full} | ${x.fields} | ${x.none} |`);
  const t = r.total;
  console.log(`| all | | ${t.raw} | ${t.laurel} | ${t.full} (${(t.full / t.laurel).toFixed(2)}×) | ${t.fields} (${(t.fields / t.laurel).toFixed(2)}×) | ${t.none} (${(t.none / t.laurel).toFixed(2)}×) |\n`);
}

if (haveCorpus && which.includes('spool')) {
  const r = (report.spool = await spoolBench());
  console.log(`## spool (${r.messages.toLocaleString('en')} syslog messages of ${r.averageBytes} bytes on average, taken and released in windows of 128; disk under ${r.directory}; messages/s, medians of 5 (min–max))\n`);
  console.log('| shape | memory | disk | disk ÷ memory |\n|---|---:|---:|---:|');
  const rate = (x) => `${Math.round(x.median).toLocaleString('en')} (${Math.round(x.min).toLocaleString('en')}–${Math.round(x.max).toLocaleString('en')})`;
  for (const x of r.rows) console.log(`| ${x.shape} | ${rate(x.memory)} | ${rate(x.disk)} | ${x.ratio.toFixed(2)}× |`);
  console.log('');
}

if (haveCorpus && run('format')) {
  const f = (report.format = await formatBench());
  console.log(`## format (${f.events} corpus events, decoded, interpreted and written out; one core)\n`);
  console.log('| output | events/s (median of 4) | min–max |\n|---|---:|---:|');
  for (const [name, r] of Object.entries(f.results)) {
    console.log(`| ${name} | ${Math.round(r.eventsPerSec).toLocaleString('en')} | ${Math.round(r.min).toLocaleString('en')}–${Math.round(r.max).toLocaleString('en')} |`);
  }
  console.log('');
}

if (Object.keys(report).length === 1) process.exit(0); // nothing ran: no results file
const dir = path.join(here, 'results');
fs.mkdirSync(dir, { recursive: true });
// A partial run gets its own file, so it does not replace the full one.
const part = which.length > 0 ? `-${which.join('-')}${secondsAt >= 0 ? `-${seconds}s` : ''}${rounds > 1 ? `-x${rounds}` : ''}${consumersAt >= 0 ? `-${chosen.join('-')}` : ''}${minReaderLoop ? `-loop${minReaderLoop}` : ''}${semiSpace ? `-semi${semiSpace}` : ''}` : '';
// A file of the same name from an earlier run that day is a result docs may
// quote: kept, and this one named by its commit too.
let file = path.join(dir, `${machine.date.slice(0, 10)}-${machine.host}${part}.json`);
if (fs.existsSync(file)) {
  const base = file.replace(/\.json$/, `-${machine.commit.slice(0, 7)}`);
  file = `${base}.json`;
  for (let n = 2; fs.existsSync(file); n++) file = `${base}-${n}.json`;
}
report.markdown = printed.join('\n');
fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
console.log(`results: ${path.relative(process.cwd(), file)}`);
