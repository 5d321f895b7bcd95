// auditd's log files through the same decoder and assembler as the live stream.
import { StringDecoder } from 'node:string_decoder';
import { parseLogLine } from '../decode/record.js';
import { Assembler, type AssemblerOptions } from '../assemble/assembler.js';
import type { AuditEvent } from '../assemble/event.js';

export interface ReadAuditLogOptions extends Pick<AssemblerOptions, 'maxInFlight' | 'timeoutMs'> {
  /** Whether the log has EOE records (laurel and raw captures do; auditd's audit.log does not). Default false. */
  expectEndOfEvent?: boolean;
}

/**
 * Events from auditd log lines (`audit.log`, raw or ENRICHED, with or without
 * `node=`), given as a stream or any async iterable of text or bytes. An event
 * waits for its records by record time, not wall time, so a file reads the
 * same however fast it is read. Lines that are not records come out as
 * one-record events marked malformed.
 */
export async function* readAuditLog(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  options: ReadAuditLogOptions = {},
): AsyncGenerator<AuditEvent> {
  const ready: AuditEvent[] = [];
  const assembler = new Assembler((ev) => ready.push(ev), {
    maxInFlight: options.maxInFlight,
    timeoutMs: options.timeoutMs,
    expectEndOfEvent: options.expectEndOfEvent ?? false,
  });
  const decoder = new StringDecoder('utf8');
  let carry = '';
  const take = (line: string): void => {
    const record = parseLogLine(line);
    if (!record) return;
    assembler.push(record, record.time);
    if (record.time !== 0) assembler.expire(record.time);
  };
  for await (const chunk of source) {
    const text = carry + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      take(text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
    if (ready.length > 0) yield* ready.splice(0);
  }
  take(carry + decoder.end());
  assembler.flush();
  yield* ready.splice(0);
}
