// npm run bench -- --report [FILE…]: the tables of results files, generated
// from what they recorded (no number is typed by hand). Without files, the
// newest file of each scenario in bench/results/. First a summary against the
// hot path's targets, each with the file it comes from; then each file's
// own tables as its run printed them.
import fs from 'node:fs';
import path from 'node:path';

const fmt = (x, digits = 2) => x.toFixed(digits);

/** The newest results file that holds each scenario. */
function newestFiles(dir) {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .reverse();
  const chosen = new Map();
  for (const f of files) {
    const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    for (const scenario of Object.keys(r)) if (scenario !== 'machine' && scenario !== 'markdown' && !chosen.has(scenario)) chosen.set(scenario, f);
  }
  return [...new Set(chosen.values())].sort().map((f) => path.join(dir, f));
}

function ratioRow(result, consumerStart, readerStart = 'minimal') {
  const cpu = result.cpuSecondsPerMillionEvents;
  const gen = result.generatorRate;
  // The exact name first: 'reads keys' is also the start of 'reads keys, containers not read'.
  const name = Object.keys(cpu).find((c) => c === consumerStart) ?? Object.keys(cpu).find((c) => c.startsWith(consumerStart));
  const reader = Object.keys(cpu).find((c) => c.startsWith(readerStart));
  if (!name || !reader) return undefined;
  const runs = result.runs.filter((r) => r.consumer === name);
  return {
    cpu: cpu[name].median / cpu[reader].median,
    gen: gen[name].median / gen[reader].median,
    lost: runs.reduce((n, r) => n + r.kernelLost + r.overruns + r.dropped, 0),
    rounds: result.rounds,
  };
}

function targets(files) {
  const rows = [];
  const add = (target, measured, met, file) => rows.push(`| ${target} | ${measured} | ${met ? 'met' : '**not met**'} | ${path.basename(file)} |`);
  for (const file of files) {
    const r = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (r.live) {
      const sc = ratioRow(r.live, 'linux-audit, reads SYSCALL');
      if (sc) {
        add('live, per event, SYSCALL fields read: CPU per event ≤ 2× the minimal reader', `${fmt(sc.cpu)}× (medians of ${sc.rounds})`, sc.cpu <= 2, file);
        add('live, per event, SYSCALL fields read: generator ≥ 0.9× its rate under the reader', `${fmt(sc.gen)}×`, sc.gen >= 0.9, file);
        add('live, per event, SYSCALL fields read: lost + overruns + dropped = 0', String(sc.lost), sc.lost === 0, file);
      }
      const bk = ratioRow(r.live, 'linux-audit, batches');
      if (bk) add('live, batches, keys read: CPU per event ≤ 1.3× the minimal reader', `${fmt(bk.cpu)}× (generator ${fmt(bk.gen)}×)`, bk.cpu <= 1.3, file);
    }
    if (r.stall) {
      const st = ratioRow(r.stall, 'linux-audit, stalls');
      if (st) {
        add('stall 250 ms every second: nothing lost', String(st.lost), st.lost === 0, file);
        add('stall 250 ms every second: generator ≥ 0.9× its rate under the reader', `${fmt(st.gen)}× (medians of ${st.rounds})`, st.gen >= 0.9, file);
      }
    }
    if (r.exec) {
      for (const [c, what] of [
        ['linux-audit, reads keys', 'keys read'],
        ['linux-audit, reads keys, containers not read', 'keys read, containers not read (subscribe({ containers: false }))'],
        ['linux-audit, reads SYSCALL', 'SYSCALL fields read'],
        ['linux-audit, decodes every', 'every field read'],
      ]) {
        const ex = ratioRow(r.exec, c);
        if (ex) add(`exec storm, ${what}: CPU per event ≤ 2× the minimal reader`, `${fmt(ex.cpu)}× (medians of ${ex.rounds})`, ex.cpu <= 2, file);
      }
    }
    if (r.log) {
      for (const l of r.log) {
        // Files before the first 8 MiB was walked have no short name.
        const short = l.short ?? (l.name.startsWith('the corpus mix') ? 'the corpus mix' : 'a real capture');
        for (const [walk, x] of Object.entries(l.results)) {
          for (const api of ['readAuditLog', 'parseLogLine']) {
            // Files before each round's ratio was kept have only the rates' medians.
            const paired = x.ratios?.[api];
            const ratio = paired ? paired.median : x[api].recordsPerSec / x.auparse.recordsPerSec;
            const shown = paired ? `${fmt(ratio)}× (${fmt(paired.min)}–${fmt(paired.max)}, per round)` : `${fmt(ratio)}×`;
            add(`audit.log (${short}), ${walk}, ${api}: ≥ 1.0× libauparse`, shown, ratio >= 1, file);
          }
        }
      }
    }
    if (r.soak) {
      const s = r.soak.rssSettledMB;
      // A run with V8's young generation fixed says so: that is the host's setting, not V8's default.
      const semi = / --semi-space (\d+)/.exec(r.machine?.command ?? '');
      add('10-minute soak: RSS within ±10% of its mean after the first minute', `${fmt(s.min, 0)}–${fmt(s.max, 0)} MB, mean ${fmt(s.mean, 0)} (${r.soak.seconds ?? / --seconds (\d+)/.exec(r.machine?.command ?? '')?.[1] ?? '?'} s run${semi ? `; young generation fixed at 2 × ${semi[1]} MB` : ''})`, s.flat, file);
    }
  }
  return rows;
}

export function printReport(files, dir) {
  const chosen = files.length > 0 ? files : newestFiles(dir);
  const rows = targets(chosen);
  if (rows.length > 0) {
    console.log('# Against the hot path targets\n');
    console.log('| target | measured | | results file |\n|---|---:|---|---|');
    for (const row of rows) console.log(row);
    console.log('');
  }
  for (const file of chosen) {
    const r = JSON.parse(fs.readFileSync(file, 'utf8'));
    const m = r.machine;
    console.log(`# ${path.basename(file)}\n\n\`${m.command}\` at commit ${m.commit}, ${m.date}, ${m.cpus} × ${m.cpuModel}, Linux ${m.kernel}, Node ${m.node}\n`);
    if (r.markdown) console.log(r.markdown);
  }
}
