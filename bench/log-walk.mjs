// The log benchmark's walks of an audit.log, every field of every record,
// through our two ways in: `readAuditLog` (events) and `parseLogLine` over the
// file's lines. run.mjs runs them again and again in its own process (the
// JIT warm); run as a program, one walk in a fresh process, which is what a
// tool that reads one log once pays, compiling as it goes:
//   node bench/log-walk.mjs readAuditLog|parseLogLine FILE [interpret]
// prints records=N seconds=S, timed from the first read of the file as
// auparse-walk.c is (after loading, before the first record).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { readAuditLog, parseLogLine } = await import(pathToFileURL(path.join(root, 'dist', 'parse.js')).href);

const touch = (r, interpret) => (interpret ? r.interpreted : r.fields);

/** One walk through readAuditLog over a file stream: records, and seconds taken. */
export async function walkReadAuditLog(file, interpret) {
  const t0 = process.hrtime.bigint();
  let records = 0;
  for await (const ev of readAuditLog(fs.createReadStream(file, { highWaterMark: 1 << 20 }))) {
    for (const r of ev.records) {
      touch(r, interpret);
      records++;
    }
  }
  return { records, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/**
 * One walk through parseLogLine, the file streamed as text and split into
 * lines as a caller of parseLogLine would: libauparse, too, reads
 * its file a buffer at a time. (Read whole into one string first, the 37 MB
 * capture's walk took a third longer on the test VM: V8 decoding UTF-8 into
 * one large string.)
 */
export async function walkParseLogLine(file, interpret) {
  const t0 = process.hrtime.bigint();
  let records = 0;
  let rest = '';
  const take = (line) => {
    const r = parseLogLine(line);
    if (r) {
      touch(r, interpret);
      records++;
    }
  };
  for await (const chunk of fs.createReadStream(file, { encoding: 'utf8' })) {
    const text = rest + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', (start = nl + 1))) take(text.slice(start, nl));
    rest = text.slice(start);
  }
  if (rest !== '') take(rest);
  return { records, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

const WALKS = { readAuditLog: walkReadAuditLog, parseLogLine: walkParseLogLine };

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [api, file, mode] = process.argv.slice(2);
  if (!WALKS[api] || !file) {
    console.error('usage: node bench/log-walk.mjs readAuditLog|parseLogLine FILE [interpret]');
    process.exit(2);
  }
  const { records, seconds } = await WALKS[api](file, mode === 'interpret');
  console.log(`records=${records} seconds=${seconds.toFixed(3)}`);
}
