// Writing events to stdout in the chosen format, at the pace stdout takes them.
import { FORMATS, type Format } from '../format/index.js';
import { oneOf } from './args.js';
import { AuditError } from '../errors.js';

export const FORMAT_HELP = `  --format json|text|raw|ecs   json: one event per line, the documented schema (default
                           when stdout is not a terminal); text: like ausearch -i, escaped for
                           the terminal (default on a terminal); raw: audit.log lines;
                           ecs: one event per line in the Elastic Common Schema`;

const NEWLINE = Buffer.from('\n');

/** The format asked for, or the default for where stdout goes. */
export function chooseFormat(value: string | undefined, stream: NodeJS.WriteStream): Format {
  return oneOf('format', value, FORMATS) ?? (stream.isTTY ? 'text' : 'json');
}

/** Colour on a terminal, unless NO_COLOR says otherwise (https://no-color.org). */
export function wantsColor(stream: NodeJS.WriteStream, flag: boolean | undefined): boolean {
  if (flag !== undefined) return flag;
  return stream.isTTY === true && (process.env.NO_COLOR ?? '') === '';
}

/**
 * Lines to a stream, waiting when it is full so a slow reader slows us
 * rather than filling memory. A closed pipe (`| head`) ends the output
 * quietly: `closed` turns true and the command stops. Any other failure (a
 * full disk: ENOSPC) ends it too, and the next write or finish() throws it as
 * an AuditError for the command to report in one line.
 */
export class LineWriter {
  closed = false;
  private failure: NodeJS.ErrnoException | undefined;
  private readonly stream: NodeJS.WritableStream;

  constructor(stream: NodeJS.WritableStream) {
    this.stream = stream;
    stream.on('error', (e: NodeJS.ErrnoException) => {
      this.closed = true;
      if (e.code !== 'EPIPE') this.failure ??= e;
    });
  }

  /** Throws when the output failed for another reason than a closed pipe. */
  check(): void {
    const e = this.failure;
    if (e !== undefined) {
      const code = e.code ?? 'EIO';
      throw new AuditError(`cannot write the output: ${e.message}`, code, e.errno, e.syscall ?? 'write', { cause: e });
    }
  }

  /** After the last write: wait for a failure the stream reports late, then check(). */
  async finish(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.check();
  }

  async write(text: string | Buffer): Promise<void> {
    this.check();
    if (this.closed) return;
    if (!this.stream.write(typeof text === 'string' ? text + '\n' : Buffer.concat([text, NEWLINE]))) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.stream.off('drain', done);
          this.stream.off('error', done);
          this.stream.off('close', done);
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('error', done);
        this.stream.on('close', done);
      });
      this.check();
    }
  }
}
