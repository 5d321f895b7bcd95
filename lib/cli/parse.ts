// parse: auditd log files (or stdin) through the same decoder, assembler,
// filters and formats as the live stream, for forensics on existing logs.
import fs from 'node:fs';
import { compileFilter } from '../filter/index.js';
import { DEFAULT_MAX_LINE_BYTES, readAuditLog } from '../logfile/read.js';
import { EXIT, UsageError, integer, parse } from './args.js';
import { AuditError } from '../errors.js';
import { EVENT_OPTIONS, EVENT_OPTIONS_HELP, colorFrom, filterFrom, recordsFrom } from './events.js';
import { formatEvent } from '../format/index.js';
import { LineWriter, chooseFormat, wantsColor } from './output.js';

export const PARSE_HELP = `Usage: linux-audit parse [options] [FILE…]

Events from auditd log files (audit.log, raw or ENRICHED, with node= or not),
or from stdin when no file or "-" is given. Files are read one after another.
A progress bar goes to stderr for files over 8 MB when stderr is a terminal.

      --eoe                the log has EOE records (laurel's, raw captures): an event
                           ends at its EOE rather than when the next one starts
${EVENT_OPTIONS_HELP}`;

/** Below this a bar would flash and vanish. */
const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;

async function* withProgress(file: string, fd: number, size: number, stderr: NodeJS.WriteStream): AsyncGenerator<Buffer> {
  let done = 0;
  let last = 0;
  const show = (): void => {
    const width = 30;
    const filled = Math.round((done / size) * width);
    stderr.write(`\r${file}: [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor((done / size) * 100)}% of ${(size / 1e6).toFixed(1)} MB`);
  };
  try {
    for await (const chunk of fs.createReadStream(file, { fd }) as AsyncIterable<Buffer>) {
      done += chunk.length;
      const now = Date.now();
      if (now - last >= 200) {
        last = now;
        show();
      }
      yield chunk;
    }
  } finally {
    stderr.write('\r\x1b[K');
  }
}

export async function parseCommand(args: string[], out: NodeJS.WriteStream, stderr: NodeJS.WriteStream): Promise<number> {
  const { values, positionals } = parse(args, { ...EVENT_OPTIONS, eoe: { type: 'boolean' } }, true);
  if (values.help) return out.write(PARSE_HELP + '\n'), EXIT.ok;
  const filter = compileFilter(filterFrom(values));
  const format = chooseFormat(values.format as string | undefined, out);
  const color = wantsColor(out, colorFrom(values));
  const records = recordsFrom(values) ?? 'full';
  const count = integer('--count', values.count as string | undefined, 1);
  const files = positionals.length > 0 ? positionals : ['-'];
  // Open every file before printing anything: a typo or a file we may not
  // read in the third name should not come after two files' worth of output.
  const opened = files.map((f) => (f === '-' ? undefined : openLog(f)));
  const writer = new LineWriter(out);
  let shown = 0;
  const cut = { linesCut: 0, bytesSkipped: 0, recordsCut: 0 };
  try {
    for (let i = 0; i < files.length; i++) {
      const f = files[i];
      const file = opened[i];
      const source =
        file === undefined
          ? (process.stdin as AsyncIterable<Buffer>)
          : stderr.isTTY && file.size >= PROGRESS_MIN_BYTES
            ? withProgress(f, file.fd, file.size, stderr)
            : (fs.createReadStream(f, { fd: file.fd }) as AsyncIterable<Buffer>);
      opened[i] = undefined;
      const events = readAuditLog(source, { expectEndOfEvent: values.eoe === true });
      for await (const ev of events) {
        if (!filter(ev)) continue;
        await writer.write(formatEvent(ev, format, color, records));
        shown++;
        if (writer.closed || (count !== undefined && shown >= count)) break;
      }
      cut.linesCut += events.stats.linesCut;
      cut.bytesSkipped += events.stats.bytesSkipped;
      cut.recordsCut += events.stats.recordsCut;
      if (writer.closed || (count !== undefined && shown >= count)) break;
    }
    await writer.finish();
  } finally {
    for (const file of opened) if (file !== undefined) fs.closeSync(file.fd);
  }
  // What the bounds left out is marked in the events; said here too, once.
  if (cut.linesCut > 0) stderr.write(`linux-audit parse: ${cut.linesCut} line(s) longer than ${DEFAULT_MAX_LINE_BYTES} bytes cut (${cut.bytesSkipped} bytes skipped; marked malformed)\n`);
  if (cut.recordsCut > 0) stderr.write(`linux-audit parse: ${cut.recordsCut} record(s) past the per-event bound (8192 records or 8 MiB) left out; their events are marked incomplete\n`);
  return EXIT.ok;
}

/** A log file opened for reading, or an error that says why not (exit 1: the file, not the command line, is wrong). */
function openLog(file: string): { fd: number; size: number } {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new UsageError(`${file} is a directory; give the log files in it (e.g. ${file}/audit.log*)`);
    return { fd, size: st.size };
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    if (e instanceof UsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied (audit logs are usually readable by root only)' : err.message;
    throw new AuditError(`cannot read ${file}: ${why}`, err.code ?? 'EIO', err.errno, err.syscall ?? 'open', { cause: e });
  }
}
