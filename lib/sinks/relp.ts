// RELP frames (the Reliable Event Logging Protocol of rsyslog's librelp):
//   TXNR SP COMMAND SP DATALEN [SP DATA] LF
// The client opens a session, sends each message as a `syslog` command, and
// the server answers every command with `rsp` and a status ("200 OK"): a
// message is delivered when its answer arrives, and resent otherwise.

export interface RelpFrame {
  txnr: number;
  command: string;
  data: Buffer;
}

export function encodeRelpFrame(txnr: number, command: string, data?: Buffer | string): Buffer {
  const body = data === undefined ? undefined : typeof data === 'string' ? Buffer.from(data) : data;
  if (!body || body.length === 0) return Buffer.from(`${txnr} ${command} 0\n`);
  return Buffer.concat([Buffer.from(`${txnr} ${command} ${body.length} `), body, Buffer.from('\n')]);
}

/** Offers of an `open` command: `relp_version=0`, `commands=syslog`, … one per line. */
export const OPEN_OFFERS = 'relp_version=0\nrelp_software=linux-audit\ncommands=syslog';

/** Longest header we accept before deciding the peer is not speaking RELP. */
const MAX_HEADER = 64;

/** Frames from a byte stream, however the stream was cut. */
export class RelpParser {
  private buffer: Buffer = Buffer.alloc(0);

  /** Frames completed by `chunk`; throws on bytes that are not RELP. */
  push(chunk: Buffer): RelpFrame[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: RelpFrame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) break;
      frames.push(frame);
    }
    return frames;
  }

  private next(): RelpFrame | undefined {
    const b = this.buffer;
    const sp1 = b.indexOf(0x20);
    const sp2 = sp1 < 0 ? -1 : b.indexOf(0x20, sp1 + 1);
    if (sp2 < 0) {
      if (b.length > MAX_HEADER) throw new Error(`not a RELP frame: "${b.subarray(0, 32).toString('latin1')}"`);
      return undefined;
    }
    // DATALEN ends at a space (data follows) or at LF (no data).
    let end = sp2 + 1;
    while (end < b.length && b[end] >= 0x30 && b[end] <= 0x39) end++;
    if (end === b.length) return undefined;
    const txnr = Number(b.toString('latin1', 0, sp1));
    const command = b.toString('latin1', sp1 + 1, sp2);
    const dataLen = Number(b.toString('latin1', sp2 + 1, end));
    if (!Number.isInteger(txnr) || end === sp2 + 1 || (b[end] !== 0x20 && b[end] !== 0x0a)) {
      throw new Error(`not a RELP frame: "${b.subarray(0, 32).toString('latin1')}"`);
    }
    const dataStart = b[end] === 0x20 ? end + 1 : end;
    if (b.length < dataStart + dataLen + 1) return undefined;
    const data = b.subarray(dataStart, dataStart + dataLen);
    if (b[dataStart + dataLen] !== 0x0a) throw new Error(`RELP frame ${txnr} ${command} does not end with LF after ${dataLen} bytes`);
    this.buffer = b.subarray(dataStart + dataLen + 1);
    return { txnr, command, data: Buffer.from(data) };
  }
}

/** The status code of an `rsp` frame's data ("200 OK\n…" → 200). */
export function responseCode(data: Buffer): number {
  return Number(data.toString('latin1', 0, 3));
}
