// parse: auditd log files (or stdin) through the same decoder, assembler,
// filters and formats as the live stream, for forensics on existing logs.
import fs from 'node:fs';
import { compileFilter } from '../filter/index.js';
import { readAuditLog } from '../logfile/read.js';
import { EXIT, UsageError, integer, parse } from './args.js';
import { EVENT_OPTIONS, EVENT_OPTIONS_HELP, colorFrom, filterFrom } from './events.js';
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

async function* withProgress(file: string, size: number, stderr: NodeJS.WriteStream): AsyncGenerator<Buffer> {
  let done = 0;
  let last = 0;
  const show = (): void => {
    const width = 30;
    const filled = Math.round((done / size) * width);
    stderr.write(`\r${file}: [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor((done / size) * 100)}% of ${(size / 1e6).toFixed(1)} MB`);
  };
  try {
    for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
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
  const count = integer('--count', values.count as string | undefined, 1);
  const files = positionals.length > 0 ? positionals : ['-'];
  // Check every file before printing anything: a typo in the third name
  // should not come after two files' worth of output.
  const sizes = files.map((f) => {
    if (f === '-') return 0;
    try {
      const st = fs.statSync(f);
      if (st.isDirectory()) throw new UsageError(`${f} is a directory; give the log files in it (e.g. ${f}/audit.log*)`);
      return st.size;
    } catch (e) {
      if (e instanceof UsageError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read ${f}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied (audit logs are usually readable by root only)' : (e as Error).message}`);
    }
  });
  const writer = new LineWriter(out);
  let shown = 0;
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    const source =
      f === '-'
        ? (process.stdin as AsyncIterable<Buffer>)
        : stderr.isTTY && sizes[i] >= PROGRESS_MIN_BYTES
          ? withProgress(f, sizes[i], stderr)
          : (fs.createReadStream(f) as AsyncIterable<Buffer>);
    for await (const ev of readAuditLog(source, { expectEndOfEvent: values.eoe === true })) {
      if (!filter(ev)) continue;
      await writer.write(formatEvent(ev, format, color));
      shown++;
      if (writer.closed || (count !== undefined && shown >= count)) return EXIT.ok;
    }
  }
  return EXIT.ok;
}
