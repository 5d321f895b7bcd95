// struct audit_status and struct audit_features, to and from bytes.

/** Every field of the kernel's struct audit_status. */
export interface AuditStatus {
  /** Which fields the kernel filled (AUDIT_STATUS_* bits). */
  mask: number;
  /** 0 off, 1 on, 2 on and locked until reboot. */
  enabled: number;
  /** 0 silent, 1 printk, 2 panic: what the kernel does when it must lose records. */
  failure: number;
  /** Process id of the registered audit daemon, 0 when none. */
  pid: number;
  rateLimit: number;
  backlogLimit: number;
  /** Events the kernel has lost since boot (or the last reset). */
  lost: number;
  /** Records waiting in the kernel's queue now. */
  backlog: number;
  /** Kernel feature bitmap (AUDIT_FEATURE_BITMAP_*). */
  featureBitmap: number;
  /** Jiffies an audited task may wait when the backlog is full; absent on kernels before 3.14. */
  backlogWaitTime: number | undefined;
  /** Jiffies tasks have waited in total; absent on kernels before 5.9. */
  backlogWaitTimeActual: number | undefined;
}

const FIELDS = [
  'mask',
  'enabled',
  'failure',
  'pid',
  'rateLimit',
  'backlogLimit',
  'lost',
  'backlog',
  'featureBitmap',
  'backlogWaitTime',
  'backlogWaitTimeActual',
] as const;

export type StatusField = (typeof FIELDS)[number];

/** Parse an AUDIT_GET reply; older kernels send fewer fields, which come back undefined. */
export function decodeStatus(payload: Uint8Array): AuditStatus {
  if (payload.length < 32) {
    throw new Error(`AUDIT_GET reply is ${payload.length} bytes, shorter than the 32 every kernel sends`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const status = {} as Record<StatusField, number | undefined>;
  FIELDS.forEach((name, i) => {
    status[name] = (i + 1) * 4 <= payload.length ? view.getUint32(i * 4, true) : undefined;
  });
  return status as unknown as AuditStatus;
}

/** An AUDIT_SET payload that changes only the fields given. */
export function encodeStatus(mask: number, values: Partial<Record<StatusField, number>>): Buffer {
  const buf = Buffer.alloc(FIELDS.length * 4);
  buf.writeUInt32LE(mask >>> 0, 0);
  FIELDS.forEach((name, i) => {
    const v = values[name];
    if (name !== 'mask' && v !== undefined) buf.writeUInt32LE(v >>> 0, i * 4);
  });
  return buf;
}

export interface AuditFeatures {
  version: number;
  /** Bits of features the kernel knows. */
  mask: number;
  /** Bits of features that are on. */
  features: number;
  /** Bits of features that are locked. */
  lock: number;
}

export function decodeFeatures(payload: Uint8Array): AuditFeatures {
  if (payload.length < 16) throw new Error(`AUDIT_GET_FEATURE reply is ${payload.length} bytes, expected 16`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return {
    version: view.getUint32(0, true),
    mask: view.getUint32(4, true),
    features: view.getUint32(8, true),
    lock: view.getUint32(12, true),
  };
}

export function encodeFeatures(f: AuditFeatures): Buffer {
  const buf = Buffer.alloc(16);
  buf.writeUInt32LE(f.version, 0);
  buf.writeUInt32LE(f.mask >>> 0, 4);
  buf.writeUInt32LE(f.features >>> 0, 8);
  buf.writeUInt32LE(f.lock >>> 0, 12);
  return buf;
}
