// The rules the watch installs for its lifetime, one key per detector, so an
// event says which detector asked for it before a single field is decoded.
import { expandRuleLines, type PresetOptions, type PresetRules } from '../rules/presets.js';

export const WATCH_KEYS = {
  exec: 'la-watch-exec',
  bind: 'la-watch-bind',
  connect: 'la-watch-connect',
  time: 'la-watch-time',
  module: 'la-watch-module',
  mount: 'la-watch-mount',
  ptrace: 'la-watch-ptrace',
  namespace: 'la-watch-ns',
  dockerConfig: 'la-watch-docker-config',
  dockerSocket: 'la-watch-docker-sock',
} as const;

/** Every key starts with this: one `includes` tells our events from the rest of the stream. */
export const WATCH_KEY_PREFIX = 'la-watch-';

const K = WATCH_KEYS;

/**
 * Each line, and why it is written so:
 * - exec: successful execs only; a failed exec runs nothing new.
 * - bind: successful binds of IPv4/IPv6 sockets: a server's port (TCP or UDP).
 *   listen() carries no address, and bind's record no socket type, so the
 *   profile keys a port by family, address and port.
 * - connect: IPv4/IPv6 connects that succeeded or are in progress
 *   (non-blocking sockets answer EINPROGRESS, -115).
 * - time: every attempt, failed ones too: a container trying to set the host's
 *   clock is the alert, whether or not it had the capability. adjtimex and
 *   clock_adjtime also read the clock (NTP daemons call them all the time): the
 *   detector alerts only when the kernel wrote a TIME_ADJNTPVAL or
 *   TIME_INJOFFSET record, which it does only when something was set.
 * - ptrace: PTRACE_ATTACH (0x10) and PTRACE_SEIZE (0x4206): taking control of another process.
 * - docker configuration: writes and attribute changes to the engine's
 *   configuration, units and binaries (the paths of the docker preset, CIS
 *   Docker Benchmark 1.1). Not the preset itself: its watches also fire on
 *   every read and exec of those files (each container start runs runc),
 *   which no detector could alert on. Replacing runc from inside a container
 *   was CVE-2019-5736.
 * - docker socket: any open or connect of it (a unix connect checks write
 *   permission, which the watch sees); the detector alerts only from inside a container.
 */
const LINES = [
  `-a always,exit -F arch=ARCH -S execve,execveat -F success=1 -F key=${K.exec}`,
  `-a always,exit -F arch=ARCH -S bind -F saddr_fam=2 -F success=1 -F key=${K.bind}`,
  `-a always,exit -F arch=ARCH -S bind -F saddr_fam=10 -F success=1 -F key=${K.bind}`,
  `-a always,exit -F arch=ARCH -S connect -F saddr_fam=2 -F success=1 -F key=${K.connect}`,
  `-a always,exit -F arch=ARCH -S connect -F saddr_fam=2 -F exit=-115 -F key=${K.connect}`,
  `-a always,exit -F arch=ARCH -S connect -F saddr_fam=10 -F success=1 -F key=${K.connect}`,
  `-a always,exit -F arch=ARCH -S connect -F saddr_fam=10 -F exit=-115 -F key=${K.connect}`,
  `-a always,exit -F arch=ARCH -S settimeofday,clock_settime,stime,adjtimex,clock_adjtime -F key=${K.time}`,
  `-a always,exit -F arch=ARCH -S init_module,finit_module,delete_module -F key=${K.module}`,
  `-a always,exit -F arch=ARCH -S mount,umount2,fsmount,move_mount -F key=${K.mount}`,
  `-a always,exit -F arch=ARCH -S ptrace -F a0=0x10 -F key=${K.ptrace}`,
  `-a always,exit -F arch=ARCH -S ptrace -F a0=0x4206 -F key=${K.ptrace}`,
  `-a always,exit -F arch=ARCH -S setns,unshare,pivot_root -F key=${K.namespace}`,
  ...[
    '/etc/docker',
    '/etc/containerd',
    '/etc/default/docker',
    '/etc/sysconfig/docker',
    '/lib/systemd/system/docker.service',
    '/lib/systemd/system/docker.socket',
    '/usr/lib/systemd/system/docker.service',
    '/usr/lib/systemd/system/docker.socket',
    '/usr/bin/dockerd',
    '/usr/bin/containerd',
    '/usr/bin/containerd-shim-runc-v2',
    '/usr/bin/runc',
  ].map((p) => `-w ${p} -p wa -k ${K.dockerConfig}`),
  `-w /var/run/docker.sock -p rwa -k ${K.dockerSocket}`,
];

/** The watch's rules for this host (lines for a missing directory are skipped and said). */
export function watchRules(options: PresetOptions = {}): PresetRules {
  return expandRuleLines(LINES, options);
}
