// One NETLINK_AUDIT socket seen from JS: requests matched to their replies by
// sequence number, and batches of complete events (assembled by the native
// reader) handed to a sink.
import { addon, type NativeSocket, type NativeSocketOptions, type NativeSocketStats, type Taken } from '../native/index.js';
import { MSG, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_REQUEST, RECORD_TYPE_CLASS, recordTypeName } from '../constants/index.js';
import { AuditError, fromNative, systemError } from '../errors.js';
import { encodeMessage, readErrorCode } from './netlink.js';

/** Receives batches of complete events (lib/assemble/batch.ts reads them). */
export interface BatchSink {
  (data: Buffer, index: Uint32Array): void;
}

export interface RequestOptions {
  /** What completes the request besides the ACK: nothing, one reply, or replies up to NLMSG_DONE. */
  reply?: 'none' | 'one' | 'many';
  timeoutMs?: number;
  /** Send without NLM_F_ACK and resolve once sent (user messages). */
  noAck?: boolean;
}

export interface Reply {
  type: number;
  payload: Buffer;
}

interface Pending {
  type: number;
  reply: 'none' | 'one' | 'many';
  acked: boolean;
  ackValue: number;
  replies: Reply[];
  done: boolean;
  resolve: (r: { ack: number; replies: Reply[] }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** How much to take from the native buffer at a time: enough to amortize the call, small against its bound. */
const TAKE_BYTES = 1 << 20;

/** Names of control requests, for errors that say which request failed. */
const REQUEST_NAMES = new Map<number, string>(Object.entries(MSG).map(([name, n]) => [n, `AUDIT_${name}`]));

export class AuditChannel {
  private readonly socket: NativeSocket;
  private readonly pending = new Map<number, Pending>();
  private seq = (Math.random() * 0x7fffffff) >>> 0;
  private sink: BatchSink | undefined;
  private onError: ((e: Error) => void) | undefined;
  private paused = false;
  private started = false;
  private stopped = false;
  // The batches taken from the native buffer and our place in them.
  private batches: Array<Buffer | Uint32Array> = [];
  private batchAt = 0;

  constructor(options: NativeSocketOptions = {}) {
    try {
      this.socket = new addon.AuditSocket({ ...options, assemble: { typeClass: RECORD_TYPE_CLASS, ...options.assemble } });
    } catch (e) {
      throw fromNative(
        e,
        options.multicast ? 'joining the audit multicast group' : 'opening the audit netlink socket',
        options.multicast && (e as { errno?: number }).errno === 1
          ? 'listening to the audit multicast group needs root or CAP_AUDIT_READ'
          : undefined,
      );
    }
  }

  get portId(): number {
    return this.socket.portId;
  }

  get closed(): boolean {
    return this.socket.closed;
  }

  /** Start the reader thread. Batches of events go to `sink`; a reader failure to `onError`. */
  start(sink?: BatchSink, onError?: (e: Error) => void): void {
    this.sink = sink;
    this.onError = onError;
    this.started = true;
    this.socket.start(() => this.drain());
    if (!sink) this.socket.unref();
  }

  /** Stop taking batches: the native buffer fills, then its overflow policy acts. */
  pause(): void {
    if (!this.stopped) this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.socket.closed) this.drain();
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  setReceiveBuffer(bytes: number): number {
    try {
      return this.socket.setReceiveBuffer(bytes);
    } catch (e) {
      throw fromNative(e, 'setting the socket receive buffer');
    }
  }

  /**
   * Requests (type, payload) to send without acknowledgement, and a file to
   * remove, if this thread's environment is torn down while the socket is
   * open: a terminated worker runs no JS, not even 'exit' listeners.
   */
  setFarewell(requests: Array<{ type: number; payload: Uint8Array }>, fileToRemove?: string): void {
    this.socket.setFarewell(
      requests.map((r) => encodeMessage(r.type, 0, r.payload, NLM_F_REQUEST)),
      fileToRemove,
    );
  }

  nativeStats(): NativeSocketStats {
    return this.socket.stats();
  }

  /** Send a request and wait for the kernel's ACK (and replies, as asked). */
  request(type: number, payload?: Uint8Array, options: RequestOptions = {}): Promise<{ ack: number; replies: Reply[] }> {
    if (this.socket.closed) {
      return Promise.reject(new AuditError('the audit socket is closed; open a new client', 'ERR_SOCKET_CLOSED'));
    }
    if (!this.started) this.start();
    // Never 0: the native reader tells replies from the kernel's records (seq 0) by it.
    const seq = (this.seq = (this.seq + 1) >>> 0 || 1);
    const name = REQUEST_NAMES.get(type) ?? recordTypeName(type);
    const flags = options.noAck ? NLM_F_REQUEST : NLM_F_REQUEST | NLM_F_ACK;
    const message = encodeMessage(type, seq, payload, flags);
    if (options.noAck) {
      try {
        this.socket.send(message);
      } catch (e) {
        return Promise.reject(fromNative(e, name));
      }
      return Promise.resolve({ ack: 0, replies: [] });
    }
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 5000;
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        if (this.pending.size === 0) this.socket.unref();
        reject(
          new AuditError(
            `${name}: the kernel did not answer within ${timeoutMs} ms; is the audit subsystem wedged, or the system very busy?`,
            'ETIMEDOUT',
            -110,
            name,
          ),
        );
      }, timeoutMs);
      this.pending.set(seq, {
        type,
        reply: options.reply ?? 'none',
        acked: false,
        ackValue: 0,
        replies: [],
        done: false,
        resolve,
        reject,
        timer,
      });
      // Keep the process alive while we wait for the kernel, not longer.
      this.socket.ref();
      try {
        this.socket.post(message);
      } catch (e) {
        this.settle(seq, fromNative(e, name));
      }
    });
  }

  /**
   * Stop receiving and hand the sink everything received, the events still
   * waiting for records included (incomplete where records may be missing).
   */
  stop(): void {
    if (this.socket.closed) return;
    this.stopped = true;
    try {
      this.socket.stop();
    } catch (e) {
      this.onError?.(fromNative(e, 'stopping the audit socket'));
    }
    this.paused = false;
    this.drain();
  }

  close(): void {
    this.socket.close();
    this.batches = [];
    this.batchAt = 0;
    for (const seq of [...this.pending.keys()]) {
      this.settle(seq, new AuditError('the audit socket was closed before the kernel answered', 'ERR_SOCKET_CLOSED'));
    }
  }

  private settle(seq: number, error?: Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    clearTimeout(p.timer);
    if (this.pending.size === 0 && !this.sink && !this.socket.closed) this.socket.unref();
    if (error) p.reject(error);
    else p.resolve({ ack: p.ackValue, replies: p.replies });
  }

  /**
   * Hand batches to the sink until the socket has no more or someone paused
   * us (the sink may, from inside the loop). Batches not yet taken stay in the
   * native buffer, where they count against its bound; replies to requests
   * are matched as they come, paused or not.
   */
  private drain(): void {
    // Whether the native buffer may hold batches: after a take that left
    // none, the reader notifies again when it has more, so a second take
    // would only come back empty (a native call per wake-up, at low rates a
    // good part of it).
    let more = true;
    while (true) {
      if (this.batchAt >= this.batches.length) {
        if (this.paused || !more) return;
        let taken: Taken;
        try {
          taken = this.socket.take(TAKE_BYTES);
        } catch (e) {
          this.batches = [];
          this.batchAt = 0;
          const err = fromNative(e, 'receiving from the audit socket');
          for (const seq of [...this.pending.keys()]) this.settle(seq, err);
          this.onError?.(err);
          return;
        }
        more = taken.more === true;
        if (taken.control !== undefined) for (const reply of taken.control) this.onControl(reply);
        const errors = taken.sendErrors;
        if (errors !== undefined) {
          for (let i = 0; i < errors.length; i += 2) {
            const seq = errors[i];
            const p = this.pending.get(seq);
            if (p) this.settle(seq, systemError(errors[i + 1], REQUEST_NAMES.get(p.type) ?? recordTypeName(p.type)));
          }
        }
        this.batches = taken;
        this.batchAt = 0;
        if (this.batches.length === 0) return;
      }
      if (this.paused) return;
      const data = this.batches[this.batchAt] as Buffer;
      const index = this.batches[this.batchAt + 1] as Uint32Array;
      this.batchAt += 2;
      try {
        this.sink?.(data, index);
      } catch (e) {
        // Thrown here it would leave through the addon's callback as an
        // uncaught exception, and the reader would never be asked to notify
        // again: the stream would hang. The subscription hears of it instead.
        this.paused = true;
        this.onError?.(e instanceof Error ? e : new Error(String(e)));
        return;
      }
    }
  }

  private onControl(reply: Buffer): void {
    if (reply.length < NLMSG_HDRLEN) return;
    const type = reply.readUInt16LE(4);
    const seq = reply.readUInt32LE(8);
    const p = this.pending.get(seq);
    if (!p) return; // a reply to a request that timed out
    if (type === NLMSG_ERROR) {
      const code = reply.length >= NLMSG_HDRLEN + 4 ? readErrorCode(reply, NLMSG_HDRLEN) : 0;
      if (code < 0) {
        const name = REQUEST_NAMES.get(p.type) ?? recordTypeName(p.type);
        this.settle(seq, systemError(-code, name));
        return;
      }
      p.acked = true;
      p.ackValue = code;
    } else if (type === NLMSG_DONE) {
      p.done = true;
    } else {
      p.replies.push({ type, payload: reply.subarray(NLMSG_HDRLEN) });
    }
    // The kernel sends some replies from a worker thread, so the ACK can come
    // before or after them; complete when both have arrived.
    const complete = p.acked && (p.reply === 'none' || (p.reply === 'one' ? p.replies.length > 0 : p.done));
    if (complete) this.settle(seq);
  }
}
