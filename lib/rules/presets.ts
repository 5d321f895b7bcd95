// Named rule sets for what an operator on a Docker host wants watched first.
// Each states where its lines come from. Syscall rules are written once with
// ARCH and expanded for this host (b64, and b32 where the host runs 32-bit
// programs); syscalls the arch lacks (stime on 64-bit x86, open on aarch64)
// are left out, and a rule left with none is dropped.
import fs from 'node:fs';
import path from 'node:path';
import { hostMachine, machineByName, syscallNumber, type Machine } from './tables.js';

export interface Preset {
  description: string;
  source: string;
  lines: readonly string[];
}

export const PRESETS = {
  docker: {
    description: 'The Docker daemon, containerd, runc, their configuration, sockets and state (CIS Docker Benchmark 1.1.3-1.1.18)',
    source:
      'CIS Docker Benchmark section 1.1, as the remediation lines of docker/docker-bench-security tests/1_host_configuration.sh give them (systemd units at the Debian/Ubuntu and the RHEL location)',
    lines: [
      '-w /usr/bin/dockerd -k docker',
      '-a always,exit -F path=/run/containerd -F perm=war -k docker',
      '-w /var/lib/docker -k docker',
      '-w /etc/docker -k docker',
      '-w /lib/systemd/system/docker.service -k docker',
      '-w /usr/lib/systemd/system/docker.service -k docker',
      '-w /run/containerd/containerd.sock -k docker',
      '-w /lib/systemd/system/docker.socket -k docker',
      '-w /usr/lib/systemd/system/docker.socket -k docker',
      '-w /etc/default/docker -k docker',
      '-w /etc/docker/daemon.json -k docker',
      '-w /etc/containerd/config.toml -k docker',
      '-w /etc/sysconfig/docker -k docker',
      '-w /usr/bin/containerd -k docker',
      '-w /usr/bin/containerd-shim -k docker',
      '-w /usr/bin/containerd-shim-runc-v1 -k docker',
      '-w /usr/bin/containerd-shim-runc-v2 -k docker',
      '-w /usr/bin/runc -k docker',
    ],
  },
  'time-change': {
    description: 'Anything that sets the clock or the time zone',
    source:
      'linux-audit/audit-userspace rules/30-stig.rules ("time-change"), with its commented-out clock_adjtime line enabled: glibc\'s adjtimex() and NTP daemons use clock_adjtime, so without it most clock adjustments go unseen (reads by an NTP daemon are reported too)',
    lines: [
      '-a always,exit -F arch=ARCH -S adjtimex,settimeofday,stime,clock_adjtime -F key=time-change',
      '-a always,exit -F arch=ARCH -S clock_settime -F a0=0x0 -F key=time-change',
      '-w /etc/localtime -p wa -k time-change',
    ],
  },
  network: {
    description: 'New listening and bound sockets, outgoing IPv4/IPv6 connections, host name changes, network configuration',
    source:
      'linux-audit/audit-userspace rules/30-stig.rules (system-locale) and 71-networking.rules; elastic/go-libaudit rule/testdata/71-networking.rules (saddr_fam); Neo23x0/auditd (network configuration watches)',
    lines: [
      '-a always,exit -F arch=ARCH -S bind,listen -F success=1 -F key=network',
      '-a always,exit -F arch=ARCH -S connect -F saddr_fam=2 -F key=network',
      '-a always,exit -F arch=ARCH -S connect -F saddr_fam=10 -F key=network',
      '-a always,exit -F arch=ARCH -S sethostname,setdomainname -F key=network',
      '-w /etc/hosts -p wa -k network',
      '-w /etc/hostname -p wa -k network',
      '-w /etc/network -p wa -k network',
    ],
  },
  identity: {
    description: 'Users, groups and their passwords',
    source: 'linux-audit/audit-userspace rules/30-stig.rules ("identity")',
    lines: [
      '-w /etc/group -p wa -k identity',
      '-w /etc/passwd -p wa -k identity',
      '-w /etc/gshadow -p wa -k identity',
      '-w /etc/shadow -p wa -k identity',
      '-w /etc/security/opasswd -p wa -k identity',
    ],
  },
  privilege: {
    description: 'sudo configuration, and programs run with more privilege than their caller (setuid/setgid root)',
    source: 'linux-audit/audit-userspace rules/30-stig.rules ("actions") and 10-privilege-escalation of 30-ospp-v42.rules (uid!=euid, euid=0)',
    lines: [
      '-w /etc/sudoers -p wa -k privilege',
      '-w /etc/sudoers.d -p wa -k privilege',
      '-a always,exit -F arch=ARCH -S execve -C uid!=euid -F euid=0 -F key=privilege',
      '-a always,exit -F arch=ARCH -S execve -C gid!=egid -F egid=0 -F key=privilege',
    ],
  },
  modules: {
    description: 'Kernel modules loaded and unloaded',
    source: 'linux-audit/audit-userspace rules/43-module-load.rules',
    lines: [
      '-a always,exit -F arch=ARCH -S init_module,finit_module -F key=modules',
      '-a always,exit -F arch=ARCH -S delete_module -F key=modules',
    ],
  },
} as const satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;

export interface PresetRules {
  /** Lines ready for loadRules or subscribe({ rules }). */
  rules: string[];
  /** Lines left out on this host, and why. */
  skipped: Array<{ rule: string; reason: string }>;
}

export interface PresetOptions {
  /** The machine to expand ARCH for. Default: this host. */
  machine?: string;
  /**
   * Where the watched tree is mounted, prefixed to every watched path: the
   * host's root as a container sees it (e.g. /host), or a test directory.
   */
  root?: string;
  /** Does this directory exist? Default: stat it. */
  directoryExists?: (dir: string) => boolean;
}

function archs(host: Machine): Array<[string, Machine]> {
  const out: Array<[string, Machine]> = [[host.bits === 64 ? 'b64' : 'b32', host]];
  const compat = host.compat ? machineByName(host.compat) : undefined;
  if (compat?.table) out.push(['b32', compat]);
  return out;
}

/**
 * A preset's lines for this host. A watch whose directory does not exist is
 * left out and said: the kernel would refuse it (ENOENT), as it refuses
 * auditctl the same line; a watch on a missing file in an existing directory
 * stays, and starts reporting when the file appears.
 */
export function presetRules(name: PresetName, options: PresetOptions = {}): PresetRules {
  const preset: Preset | undefined = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!preset) throw new Error(`unknown preset "${String(name)}"; presets: ${Object.keys(PRESETS).join(', ')}`);
  return expandRuleLines(preset.lines, options);
}

/** Rule lines written with arch=ARCH and host paths, made ready for this host as presetRules makes a preset's. */
export function expandRuleLines(lines: readonly string[], options: PresetOptions = {}): PresetRules {
  const host = (options.machine !== undefined ? machineByName(options.machine) : undefined) ?? hostMachine();
  const dirExists =
    options.directoryExists ??
    ((d: string) => {
      try {
        return fs.statSync(d).isDirectory();
      } catch {
        return false;
      }
    });
  const out: PresetRules = { rules: [], skipped: [] };
  const root = options.root?.replace(/\/+$/, '') ?? '';
  for (const template of lines) {
    const line = root ? template.replace(/(^-w |-F (?:path|dir)=)\//, `$1${root}/`) : template;
    const watched = /^-w (\S+)/.exec(line)?.[1] ?? /-F (?:path|dir)=(\S+)/.exec(line)?.[1];
    if (watched && !dirExists(path.dirname(watched))) {
      out.skipped.push({ rule: line, reason: `${path.dirname(watched)} does not exist on this host, so the kernel cannot watch ${watched}` });
      continue;
    }
    if (!line.includes('arch=ARCH')) {
      out.rules.push(line);
      continue;
    }
    for (const [bits, machine] of archs(host)) {
      const withArch = line.replace('arch=ARCH', `arch=${bits}`);
      const list = /-S (\S+)/.exec(withArch)![1];
      const kept = list.split(',').filter((s) => syscallNumber(machine, s) !== undefined);
      if (kept.length === 0) out.skipped.push({ rule: withArch, reason: `${machine.name} has none of these syscalls` });
      else out.rules.push(withArch.replace(`-S ${list}`, `-S ${kept.join(',')}`));
    }
  }
  return out;
}
