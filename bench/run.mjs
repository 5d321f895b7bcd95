#!/usr/bin/env node
// npm run bench [-- decode|live|rules] [--seconds N]
//
// decode: records/s through the decoder (header only, header + all fields, and
//         the whole path to events) over a realistic mix built from the corpus.
// live:   a C generator makes audited getppid() calls as fast as it can while we
//         subscribe in unicast mode; reports what arrived, what was lost and where,
//         and our CPU per million records. Restores the kernel state it changed.
// rules:  parse + encode of a 1,000-rule file, and loading it into the kernel
//         beside `auditctl -R` on the same file (rules/s).
// log:    the same large audit.log through readAuditLog and through libauparse
//         (bench/peers/auparse-walk.c), every field, with and without
//         interpretation: records/s and the ratio.
// format: events/s through each output: json, text, raw, and RFC 5424 syslog
//         messages (json and raw payloads): the ceiling of tail and forward.
// Results go to stdout as Markdown and to bench/results/<date>-<host>.json.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const lib = (p) => import(path.join(root, 'dist', p));
const { decodeDatagram, parseLogLine } = await lib('decode/record.js');
const { Assembler } = await lib('assemble/assembler.js');
const { subscribe, AuditClient, parseRules, encodeRule, readAuditLog } = await lib('index.js');
const { formatEvent } = await lib('format/index.js');
const { SyslogFormatter } = await lib('sinks/index.js');

const argv = process.argv.slice(2);
const which = argv.filter((a) => !a.startsWith('--'));
const seconds = Number(argv[argv.indexOf('--seconds') + 1] || 10);
const run = (name) => which.length === 0 || which.includes(name);
const corpus = process.env.LINUX_AUDIT_CORPUS ?? path.resolve(root, '..', 'shared', 'corpus');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
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

function decodeBench() {
  const unique = corpusDatagrams();
  // ~200k records in batches of 256, as the reader hands them over.
  const batches = [];
  let records = 0;
  let bytes = 0;
  const types = new Map();
  for (let rep = 0; records < 200_000; rep++) {
    for (let i = 0; i < unique.length; i += 256) {
      const part = unique.slice(i, i + 256);
      const data = Buffer.concat(part);
      const index = new Uint32Array(part.length * 3);
      let off = 0;
      part.forEach((m, k) => {
        index[k * 3] = off;
        index[k * 3 + 1] = m.length;
        index[k * 3 + 2] = m.readUInt16LE(4);
        off += m.length;
        const t = m.readUInt16LE(4);
        types.set(t, (types.get(t) ?? 0) + 1);
      });
      batches.push({ data, index });
      records += part.length;
      bytes += data.length;
    }
  }
  const modes = {
    'header only': (r) => r.serial,
    'header + all fields': (r) => r.fields,
    'header + all fields + interpretation': (r) => r.interpreted,
    'all fields + assembly': null,
  };
  const results = {};
  for (const [name, touch] of Object.entries(modes)) {
    const rates = [];
    for (let run = 0; run < 7; run++) {
      let sink = 0;
      const a = new Assembler(() => sink++, { expectEndOfEvent: false });
      const t0 = process.hrtime.bigint();
      for (const { data, index } of batches) {
        for (let i = 0; i < index.length; i += 3) {
          const r = decodeDatagram(data, index[i], index[i + 1], index[i + 2]);
          if (touch) touch(r);
          else {
            void r.fields;
            a.push(r, 0);
          }
        }
      }
      a.flush();
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (run > 1) rates.push(records / dt); // first runs warm the JIT
    }
    results[name] = { recordsPerSec: median(rates), min: Math.min(...rates), max: Math.max(...rates), mbPerSec: (median(rates) * bytes) / records / 1e6 };
  }
  return { records, bytes, distinctRecords: unique.length, recordTypes: types.size, results };
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

async function logBench() {
  const log = generatedLog(200_000);
  const walker = path.join(path.dirname(log.file), 'auparse-walk');
  execFileSync('cc', ['-O2', '-o', walker, path.join(here, 'peers', 'auparse-walk.c'), '-lauparse', '-laudit']);
  const auparse = (mode) => {
    const rates = [];
    for (let run = 0; run < 5; run++) {
      const out = execFileSync(walker, mode ? [log.file, mode] : [log.file], { encoding: 'utf8' });
      const m = /records=(\d+) fields=(\d+) seconds=([\d.]+)/.exec(out);
      rates.push(Number(m[1]) / Number(m[3]));
    }
    return rates;
  };
  const ours = async (interpret) => {
    const rates = [];
    for (let run = 0; run < 6; run++) {
      const t0 = process.hrtime.bigint();
      let records = 0;
      for await (const ev of readAuditLog(fs.createReadStream(log.file, { highWaterMark: 1 << 20 }))) {
        for (const r of ev.records) {
          if (interpret) void r.interpreted;
          else void r.fields;
          records++;
        }
      }
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (run > 0) rates.push(records / dt);
    }
    return rates;
  };
  const summary = (rates) => ({ recordsPerSec: median(rates), min: Math.min(...rates), max: Math.max(...rates) });
  const results = {
    'every field': { ours: summary(await ours(false)), auparse: summary(auparse()) },
    'every field interpreted': { ours: summary(await ours(true)), auparse: summary(auparse('interpret')) },
  };
  fs.rmSync(path.dirname(log.file), { recursive: true, force: true });
  return { records: log.records, bytes: log.bytes, results };
}

// --- live -----------------------------------------------------------------

function auditctl(...args) {
  return execFileSync('auditctl', args, { encoding: 'utf8' });
}

/**
 * One live run: the generator at full speed for `seconds` while we subscribe in
 * unicast mode. `touchFields` decides what the consumer reads: the event only
 * (fields stay undecoded, as for an agent that filters on a few) or every field
 * of every record (an agent that ships everything).
 */
async function liveRun(gen, touchFields) {
  const key = `la_bench_${process.pid}`;
  const client = await AuditClient.open();
  const before = await client.getStatus();
  auditctl('-a', 'always,exit', '-F', 'arch=b64', '-S', 'getppid', '-F', `ppid=${process.pid}`, '-F', `key=${key}`);
  let sub;
  try {
    sub = subscribe({ mode: 'unicast', enable: true });
    await sub.ready;
    let events = 0;
    const consume = (async () => {
      for await (const ev of sub) {
        if (touchFields) for (const r of ev.records) void r.fields;
        events++;
      }
    })();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const genOut = await new Promise((resolve, reject) => {
      const child = spawn(gen, ['0', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', () => resolve(out.trim()));
    });
    const calls = Number(/calls=(\d+)/.exec(genOut)[1]);
    // Let the tail drain: the kernel backlog and our buffers.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && sub.stats().events + sub.stats().dropped / 3 < calls) await new Promise((r) => setTimeout(r, 50));
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    await new Promise((r) => setTimeout(r, 1100)); // one more lost-counter poll
    const s = sub.stats();
    await sub.close();
    await consume;
    const cpuSec = (cpu.user + cpu.system) / 1e6;
    return {
      consumer: touchFields ? 'every field' : 'events only',
      seconds,
      generator: genOut,
      generatorCalls: calls,
      eventsDelivered: events,
      records: s.records,
      recordsPerSec: s.records / wall,
      kernelLost: s.kernelLost,
      socketOverruns: s.socketOverruns,
      dropped: s.dropped,
      incomplete: s.incomplete,
      peakPendingMB: s.peakPendingBytes / 1e6,
      cpuSeconds: cpuSec,
      cpuSecondsPerMillionRecords: (cpuSec / s.records) * 1e6,
      peakRssMB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await sub?.close().catch(() => undefined);
    execFileSync('auditctl', ['-D', '-k', key]);
    const now = await client.getStatus();
    if (now.enabled !== before.enabled && before.enabled !== 2) await client.setEnabled(before.enabled);
    if (now.backlogLimit !== before.backlogLimit) await client.setBacklogLimit(before.backlogLimit);
    client.close();
  }
}

async function liveBench() {
  const gen = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'linux-audit-bench-')), 'syscall-gen');
  execFileSync('cc', ['-O2', '-o', gen, path.join(here, 'gen', 'syscall-gen.c')]);
  // Generator alone, nothing audited: what the machine does without us.
  const alone = execFileSync(gen, ['0', '3'], { encoding: 'utf8' }).trim();
  return { generatorUnaudited: alone, runs: [await liveRun(gen, false), await liveRun(gen, true)] };
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

// --- report ---------------------------------------------------------------

const machine = {
  host: os.hostname(),
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  kernel: os.release(),
  node: process.version,
  date: new Date().toISOString(),
};
const report = { machine };
console.log(`# linux-audit benchmark\n\n${machine.cpus} × ${machine.cpuModel}, Linux ${machine.kernel}, Node ${machine.node}\n`);

if (run('decode')) {
  const d = (report.decode = decodeBench());
  console.log(`## decode (${d.records} records, ${d.distinctRecords} distinct from the corpus, ${d.recordTypes} types, ${(d.bytes / 1e6).toFixed(1)} MB)\n`);
  console.log('| path | records/s (median of 5) | min–max | MB/s |\n|---|---:|---:|---:|');
  for (const [name, r] of Object.entries(d.results)) {
    console.log(`| ${name} | ${Math.round(r.recordsPerSec).toLocaleString('en')} | ${Math.round(r.min).toLocaleString('en')}–${Math.round(r.max).toLocaleString('en')} | ${r.mbPerSec.toFixed(0)} |`);
  }
  console.log('');
}

if (run('log')) {
  const l = (report.log = await logBench());
  console.log(`## log: an audit.log read by us and by libauparse (${l.records.toLocaleString('en')} records, ${(l.bytes / 1e6).toFixed(1)} MB, the corpus mix with unique serials)\n`);
  console.log('Both read the file, group records into events and walk every field of every record; ours is `readAuditLog` with `record.fields` or `record.interpreted`, theirs `bench/peers/auparse-walk.c` with `auparse_get_field_str` or `auparse_interpret_field`.\n');
  console.log('| walk | linux-audit records/s | libauparse records/s | ratio |\n|---|---:|---:|---:|');
  for (const [name, r] of Object.entries(l.results)) {
    const f = (x) => `${Math.round(x.recordsPerSec).toLocaleString('en')} (${Math.round(x.min).toLocaleString('en')}–${Math.round(x.max).toLocaleString('en')})`;
    console.log(`| ${name} | ${f(r.ours)} | ${f(r.auparse)} | ${(r.ours.recordsPerSec / r.auparse.recordsPerSec).toFixed(2)}× |`);
  }
  console.log('');
}

if (run('live')) {
  if (process.getuid() !== 0) {
    console.log('## live\n\nskipped: needs root\n');
  } else {
    const l = (report.live = await liveBench());
    console.log(`## live (unicast, generator at full speed for ${seconds} s)\n`);
    console.log(`generator with no rule: ${l.generatorUnaudited}\n`);
    console.log('| consumer reads | generator (audited) | records | records/s | kernel lost | socket overruns | dropped (counted) | CPU s / M records | peak buffered MB | peak RSS MB |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of l.runs) {
      console.log(
        `| ${r.consumer} | ${r.generator} | ${r.records} | ${Math.round(r.recordsPerSec).toLocaleString('en')} | ${r.kernelLost} | ${r.socketOverruns} | ${r.dropped} | ${r.cpuSecondsPerMillionRecords.toFixed(2)} | ${r.peakPendingMB.toFixed(1)} | ${r.peakRssMB.toFixed(0)} |`,
      );
    }
    console.log('');
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

if (run('format')) {
  const f = (report.format = await formatBench());
  console.log(`## format (${f.events} corpus events, decoded, interpreted and written out; one core)\n`);
  console.log('| output | events/s (median of 4) | min–max |\n|---|---:|---:|');
  for (const [name, r] of Object.entries(f.results)) {
    console.log(`| ${name} | ${Math.round(r.eventsPerSec).toLocaleString('en')} | ${Math.round(r.min).toLocaleString('en')}–${Math.round(r.max).toLocaleString('en')} |`);
  }
  console.log('');
}

const dir = path.join(here, 'results');
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${machine.date.slice(0, 10)}-${machine.host}.json`);
fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
console.log(`results: ${path.relative(process.cwd(), file)}`);
