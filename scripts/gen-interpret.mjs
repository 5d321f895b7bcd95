#!/usr/bin/env node
// Generates lib/interpret/tables.generated.ts: the names interpretation gives
// to numbers, read from this machine's C headers and C library (the same ones
// libauparse is built against), never typed by hand:
//   errno messages      strerror() of glibc
//   capabilities        linux/capability.h  CAP_*
//   signals             signal.h            SIG*
//   open flags          fcntl.h             O_*
//   socket families     sys/socket.h        PF_*
//   socket types        sys/socket.h        SOCK_*
//   clone flags         linux/sched.h       CLONE_*
//   mmap prot/flags     sys/mman.h          PROT_*, MAP_*
//   seccomp actions     linux/seccomp.h     SECCOMP_RET_*
//   ptrace requests     linux/ptrace.h      PTRACE_*
//   prctl options       linux/prctl.h       PR_*
//   mount flags         linux/mount.h       MS_*
// The output is committed; run `npm run gen:interpret` to refresh it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'lib', 'interpret', 'tables.generated.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-interpret-'));

/**
 * Macros matching `pattern` that `header` defines, with the values a C program
 * sees (enums behind macros included), in value order. A name defined as
 * another name (PF_UNIX as PF_LOCAL) is marked an alias.
 */
function macros(header, pattern, { enums = false } = {}) {
  const all = execFileSync('cpp', ['-dM', '-D_GNU_SOURCE', '-include', header, '/dev/null'], { encoding: 'utf8' });
  const defs = new Map([...all.matchAll(/^#define (\w+)[ \t]+(.*)$/gm)].map((m) => [m[1], m[2].trim()]));
  let names = [...defs.keys()].filter((n) => pattern.test(n));
  if (enums) {
    // Constants the header declares as enum members, not macros.
    const text = execFileSync('cpp', ['-D_GNU_SOURCE', '-include', header, '/dev/null'], { encoding: 'utf8' });
    for (const m of text.matchAll(/\b([A-Z_][A-Z0-9_]*)\s*=/g)) if (pattern.test(m[1]) && !names.includes(m[1])) names.push(m[1]);
  }
  const src = path.join(tmp, 'm.c');
  // A few macros are not constants a program can print (their size depends on
  // a type the header only declares): the compiler names their lines; drop
  // those and try again.
  for (let attempt = 0; ; attempt++) {
    const head = 3;
    fs.writeFileSync(
      src,
      `#define _GNU_SOURCE\n#include <stdio.h>\n#include <${header}>\nint main(void){\n${names.map((n) => `printf("%s\\t%lld\\n", "${n}", (long long)(${n}));`).join('\n')}\nreturn 0;}\n`,
    );
    try {
      execFileSync('cc', ['-w', '-o', path.join(tmp, 'm'), src], { stdio: ['ignore', 'ignore', 'pipe'] });
      break;
    } catch (e) {
      const bad = new Set([...String(e.stderr).matchAll(/m\.c:(\d+):\d+: error/g)].map((m) => Number(m[1]) - head - 2));
      if (bad.size === 0 || attempt >= 3) throw e;
      names = names.filter((_, i) => !bad.has(i));
    }
  }
  return execFileSync(path.join(tmp, 'm'), { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .map(([n, v]) => ({ name: n, value: Number(v), alias: /^[A-Z_][A-Z0-9_]*$/.test(defs.get(n) ?? '') && defs.get(n) !== n }))
    .sort((a, b) => a.value - b.value || Number(a.alias) - Number(b.alias) || (a.name < b.name ? -1 : 1));
}

/** [value, name] with one name per value: the one not defined as an alias of another. */
function byValue(entries, strip = '') {
  const seen = new Map();
  for (const e of entries) if (!seen.has(e.value)) seen.set(e.value, e.name.slice(strip.length));
  return [...seen];
}

/** [value, name] of every flag, aliases left out. */
function flags(entries) {
  return entries.filter((e) => !e.alias).map((e) => [e.value, e.name]);
}

function strerrors() {
  const src = path.join(tmp, 'e.c');
  fs.writeFileSync(src, '#include <stdio.h>\n#include <string.h>\nint main(void){for(int i=1;i<134;i++)printf("%d\\t%s\\n",i,strerror(i));return 0;}\n');
  execFileSync('cc', ['-o', path.join(tmp, 'e'), src]);
  return execFileSync(path.join(tmp, 'e'), { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .map(([n, m]) => [Number(n), m]);
}

const tables = {
  ERRNO_MESSAGES: strerrors(),
  CAPABILITIES: byValue(macros('linux/capability.h', /^CAP_(?!LAST_CAP)[A-Z_]+$/), 'CAP_').map(([v, n]) => [v, n.toLowerCase()]),
  SIGNALS: byValue(macros('signal.h', /^SIG(?!RTMIN|RTMAX|STKSZ|_|EV_|STKFLT$)[A-Z0-9]+$/)),
  // The kernel's open flags (glibc defines O_LARGEFILE as 0 on 64-bit hosts).
  OPEN_FLAGS: flags(macros('asm/fcntl.h', /^O_(?!ACCMODE|NDELAY)[A-Z]+$/)),
  SOCKET_FAMILIES: byValue(macros('sys/socket.h', /^PF_(?!MAX)[A-Z0-9]+$/), 'PF_').map(([v, n]) => [v, n.toLowerCase()]),
  SOCKET_TYPES: byValue(macros('sys/socket.h', /^SOCK_(?!CLOEXEC|NONBLOCK)[A-Z]+$/)),
  CLONE_FLAGS: flags(macros('linux/sched.h', /^CLONE_[A-Z_]+$/)),
  MMAP_PROT: flags(macros('sys/mman.h', /^PROT_[A-Z_]+$/)),
  MMAP_FLAGS: flags(macros('sys/mman.h', /^MAP_[A-Z_0-9]+$/).filter((e) => !/^MAP_(TYPE|FILE|ANON|HUGE_SHIFT|HUGE_MASK|FAILED)$|^MAP_HUGE_\d/.test(e.name))),
  SECCOMP_ACTIONS: byValue(macros('linux/seccomp.h', /^SECCOMP_RET_(?!ACTION|DATA|KILL$)[A-Z_]+$/)),
  PTRACE_REQUESTS: byValue(macros('linux/ptrace.h', /^PTRACE_(?!O_|EVENT|SYSCALL_INFO|PEEKSIGINFO_SHARED|GET_SYSCALL_INFO$)[A-Z_]+$/)),
  PRCTL_OPTIONS: byValue(
    macros('linux/prctl.h', /^PR_(SET|GET)_[A-Z_]+$/).filter(
      (e) => !/^PR_SET_MM_|_(MASK|SHIFT|INHERIT|LEN_MASK|EXEC|ENABLE|DISABLE)$/.test(e.name) && e.value >= 0 && e.value < 0x100000,
    ),
  ),
  // IPv6 extension headers share numbers with protocols (HOPOPTS is 0, as IP is).
  IP_PROTOCOLS: byValue(macros('netinet/in.h', /^IPPROTO_(?!MAX|HOPOPTS|ROUTING|FRAGMENT|DSTOPTS|NONE)[A-Z0-9]+$/), 'IPPROTO_').map(([v, n]) => [v, n.toLowerCase()]),
  FCNTL_COMMANDS: byValue(macros('fcntl.h', /^F_(?!OK$)[A-Z0-9_]+$/).filter((e) => !/^F_(OWNER_|SEAL_|RDLCK|WRLCK|UNLCK|EXLCK|SHLCK|LOCK|TLOCK|ULOCK|TEST|DUPFD_QUERY)/.test(e.name) && e.value >= 0)),
  PERSONALITIES: byValue(macros('linux/personality.h', /^PER_(?!MASK)[A-Z0-9_]+$/, { enums: true })),
  IOCTL_REQUESTS: byValue(macros('sys/ioctl.h', /^(TC|TIOC|FIO)[A-Z0-9]+$/).filter((e) => e.value > 0x100)),
  MOUNT_FLAGS: flags(macros('linux/mount.h', /^MS_(?!MGC_VAL|MGC_MSK|RMT_MASK|NOUSER|BIND_MASK)[A-Z_]+$/)),
};

const lines = ["// Generated by scripts/gen-interpret.mjs from this machine's C headers and glibc. Do not edit.", ''];
for (const [name, entries] of Object.entries(tables)) {
  lines.push(`export const ${name}: ReadonlyArray<readonly [number, string]> = [`);
  for (const [v, n] of entries) lines.push(`  [${v >= 0x10000 ? '0x' + v.toString(16) : v}, ${JSON.stringify(n)}],`);
  lines.push('];', '');
}
fs.writeFileSync(out, lines.join('\n'));
fs.rmSync(tmp, { recursive: true });
console.log(`gen-interpret: ${Object.entries(tables).map(([n, t]) => `${n} ${t.length}`).join(', ')}`);
