// Writing events to stdout in the chosen format, at the pace stdout takes them.
import { FORMATS, type Format } from '../format/index.js';
import { oneOf } from './args.js';

export const FORMAT_HELP = `  --format json|text|raw   json: one event per line, the documented schema (default when
                           stdout is not a terminal); text: like ausearch -i, escaped for
                           the terminal (default on a terminal); raw: audit.log lines`;

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
 * quietly: `closed` turns true and the command stops.
 */
export class LineWriter {
  closed = false;
  private readonly stream: NodeJS.WritableStream;

  constructor(stream: NodeJS.WritableStream) {
    this.stream = stream;
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') this.closed = true;
      else throw e;
    });
  }

  async write(text: string): Promise<void> {
    if (this.closed) return;
    if (!this.stream.write(text + '\n')) {
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
    }
  }
}
