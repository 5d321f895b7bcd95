// Netlink message framing for NETLINK_AUDIT: building requests and reading the
// kernel's replies. Pure functions over bytes, so they are tested without a kernel.
import { NLMSG_HDRLEN, NLM_F_ACK, NLM_F_REQUEST } from '../constants/index.js';

/** A request message: nlmsghdr followed by payload, padded to 4 bytes. */
export function encodeMessage(type: number, seq: number, payload: Uint8Array = new Uint8Array(0), flags = NLM_F_REQUEST | NLM_F_ACK): Buffer {
  const len = NLMSG_HDRLEN + payload.length;
  const msg = Buffer.alloc((len + 3) & ~3);
  msg.writeUInt32LE(len, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(flags, 6);
  msg.writeUInt32LE(seq >>> 0, 8);
  msg.writeUInt32LE(0, 12);
  msg.set(payload, NLMSG_HDRLEN);
  return msg;
}

/**
 * The error field of an NLMSG_ERROR payload: 0 for an ACK, a negative errno for a
 * refusal, and (for AUDIT_SET with the lost-reset bit) the old lost counter as a
 * positive number.
 */
export function readErrorCode(data: Uint8Array, payloadOffset: number): number {
  return new DataView(data.buffer, data.byteOffset + payloadOffset, 4).getInt32(0, true);
}
