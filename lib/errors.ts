import fs from 'node:fs';
import os from 'node:os';

const errnoNames = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, n]) => [n, name]),
);

/** The symbolic name of a positive errno, e.g. 13 → 'EACCES'. */
export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `ERRNO_${Math.abs(errno)}`;
}

/**
 * An error from the kernel or a system call, shaped like Node's own: `code`
 * ('EPERM'), `errno` (negative, as in Node), `syscall` (the call or the audit
 * request that failed), and a message that says what to do about it.
 */
export class AuditError extends Error {
  readonly code: string;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;

  constructor(message: string, code: string, errno?: number, syscall?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuditError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

const ADVICE: Record<string, string> = {
  EPERM:
    'the audit netlink socket needs root or CAP_AUDIT_CONTROL (CAP_AUDIT_READ to listen to multicast, CAP_AUDIT_WRITE to send user messages); run as root or grant the capability',
  EACCES:
    'another process is the registered audit daemon and only it may change that; stop it, or subscribe with mode "multicast"',
  EPROTONOSUPPORT: 'this kernel has no audit support (CONFIG_AUDIT); use a kernel built with it',
  ECONNREFUSED: 'the kernel refused the netlink connection; is audit disabled on the kernel command line (audit=0)?',
};

// The kernel answers audit requests only from the initial pid and user
// namespaces (kernel/audit.c, audit_netlink_ok): EPERM and ECONNREFUSED there
// mean "not from here" whatever the capabilities. Their inode numbers are
// fixed (PROC_PID_INIT_INO, PROC_USER_INIT_INO).
const INITIAL_NAMESPACES: Array<[string, string]> = [
  ['pid', 'pid:[4026531836]'],
  ['user', 'user:[4026531837]'],
];

/** Advice when this process is not in the namespaces the kernel's audit socket serves; undefined when it is, or /proc cannot say. */
function namespaceAdvice(): string | undefined {
  const foreign: string[] = [];
  for (const [ns, initial] of INITIAL_NAMESPACES) {
    let link: string;
    try {
      link = fs.readlinkSync(`/proc/self/ns/${ns}`);
    } catch {
      return undefined;
    }
    if (link !== initial) foreign.push(ns);
  }
  if (foreign.length === 0) return undefined;
  return `this process is not in the host's ${foreign.join(' and ')} namespace, and the kernel answers audit requests only from there whatever the capabilities: ${
    foreign.includes('pid') ? "run the container with the host's pid namespace (docker run --pid=host; Kubernetes hostPID: true)" : ''
  }${foreign.length === 2 ? ', and ' : ''}${foreign.includes('user') ? 'run it outside any user namespace (no userns-remap, no rootless engine)' : ''}`;
}

/** Build an AuditError for errno (sign ignored) from `syscall`, with advice when we have some. */
export function systemError(errno: number, syscall: string, context?: string, advice?: string): AuditError {
  const code = errnoName(errno);
  const base = `${syscall} failed: ${code}${context ? ` (${context})` : ''}`;
  const hint = advice ?? (((code === 'EPERM' || code === 'ECONNREFUSED') && namespaceAdvice()) || ADVICE[code]);
  return new AuditError(hint ? `${base}: ${hint}` : base, code, -Math.abs(errno), syscall);
}

/** Turn an error thrown by the native addon (errno, syscall) into an AuditError. */
export function fromNative(err: unknown, context?: string, advice?: string): Error {
  if (err instanceof Error && typeof (err as { errno?: unknown }).errno === 'number') {
    const e = err as Error & { errno: number; syscall?: string };
    return systemError(e.errno, e.syscall ?? 'audit socket', context, advice);
  }
  return err instanceof Error ? err : new Error(String(err));
}
