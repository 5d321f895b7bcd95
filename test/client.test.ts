import { describe, expect, it } from 'vitest';
import { decodeFeatures, decodeStatus, encodeFeatures, encodeStatus } from '../lib/client/status.js';
import { encodeMessage, readErrorCode } from '../lib/transport/netlink.js';
import { AuditClient } from '../lib/client/client.js';
import { STATUS_MASK } from '../lib/constants/index.js';

describe('struct audit_status', () => {
  const words = (...n: number[]) => Buffer.from(new Uint32Array(n).buffer);

  it('reads every field of a current kernel reply', () => {
    const s = decodeStatus(words(0x7f, 1, 1, 4242, 0, 8192, 3, 7, 0x7f, 15000, 12));
    expect(s).toEqual({
      mask: 0x7f,
      enabled: 1,
      failure: 1,
      pid: 4242,
      rateLimit: 0,
      backlogLimit: 8192,
      lost: 3,
      backlog: 7,
      featureBitmap: 0x7f,
      backlogWaitTime: 15000,
      backlogWaitTimeActual: 12,
    });
  });

  it('tolerates the shorter replies of older kernels', () => {
    const s = decodeStatus(words(0, 1, 1, 0, 0, 64, 0, 0, 2));
    expect(s.backlogWaitTime).toBeUndefined();
    expect(s.backlogWaitTimeActual).toBeUndefined();
    expect(s.backlogLimit).toBe(64);
    expect(() => decodeStatus(words(1, 2, 3))).toThrow(/shorter than the 32/);
  });

  it('writes only the masked fields of an AUDIT_SET', () => {
    const b = encodeStatus(STATUS_MASK.BACKLOG_LIMIT, { backlogLimit: 8192 });
    expect(b.length).toBe(44);
    expect(b.readUInt32LE(0)).toBe(STATUS_MASK.BACKLOG_LIMIT);
    expect(b.readUInt32LE(20)).toBe(8192);
    expect(b.readUInt32LE(4)).toBe(0);
  });

  it('round-trips struct audit_features', () => {
    const f = { version: 1, mask: 2, features: 2, lock: 0 };
    expect(decodeFeatures(encodeFeatures(f))).toEqual(f);
  });
});

describe('netlink framing', () => {
  it('builds a request header with length, type, flags and sequence, padded to 4', () => {
    const m = encodeMessage(1000, 77, Buffer.from([1, 2, 3]));
    expect(m.length).toBe(20);
    expect([m.readUInt32LE(0), m.readUInt16LE(4), m.readUInt16LE(6), m.readUInt32LE(8), m.readUInt32LE(12)]).toEqual([19, 1000, 5, 77, 0]);
    expect([...m.subarray(16)]).toEqual([1, 2, 3, 0]);
  });

  it('reads the error field of NLMSG_ERROR, negative for errors, positive for the lost reset', () => {
    const e = Buffer.alloc(4);
    e.writeInt32LE(-17);
    expect(readErrorCode(e, 0)).toBe(-17);
    e.writeInt32LE(5);
    expect(readErrorCode(e, 0)).toBe(5);
  });
});

describe('AuditClient guards (no request reaches the kernel)', () => {
  it('refuses to lock the configuration or panic the kernel without the loud option', async () => {
    const c = await AuditClient.open();
    try {
      await expect(c.setEnabled(2)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/dangerouslyLockUntilReboot/) });
      await expect(c.setFailure(2)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/dangerouslyPanicOnFailure/) });
      await expect(c.setEnabled(3 as 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      await expect(c.setBacklogLimit(-1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      await expect(c.sendUserMessage(1300, 'x')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      await expect(c.setFeature('NOPE' as 'LOGINUID_IMMUTABLE', true)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    } finally {
      c.close();
    }
  });
});
