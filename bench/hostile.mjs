// Input a hostile user or host can hand us, at any size: the shapes of issue
// 18's table (and their neighbours) as generators of about n bytes. Used by the
// `scaling` benchmark (time at n and 4n) and by the length-scaled fuzzing in
// test/properties.test.ts (any size, nothing may throw or hang).

const header = (serial = 1) => `msg=audit(1700000000.000:${serial}):`;
const line = (type, body, serial) => `type=${type} ${header(serial)} ${body}`;
const repeat = (unit, n) => unit.repeat(Math.max(1, Math.floor(n / unit.length)));

/** Log text shapes: name → text of about n bytes (one or more lines). */
export const LOG_SHAPES = [
  { name: 'bare words (a a a …)', build: (n) => line('USER', repeat('a ', n)) },
  { name: 'old old old …', build: (n) => line('LOGIN', repeat('old ', n)) },
  { name: "nested msg='msg='…", build: (n) => line('USER_CMD', repeat("msg='", n)) },
  { name: 'escaped quotes a="x\\" …', build: (n) => line('USER', repeat('a="x\\" ', n)) },
  { name: 'equals signs', build: (n) => line('USER', repeat('=', n)) },
  { name: 'many fields a=1 …', build: (n) => line('USER', repeat('a=1 ', n)) },
  { name: 'one long value', build: (n) => line('USER', `msg=${repeat('x', n)}`) },
  { name: 'saddr of n bytes', build: (n) => line('SOCKADDR', `saddr=01${repeat('00', n)}`) },
  { name: 'proctitle of NULs', build: (n) => line('PROCTITLE', `proctitle=${repeat('00', n)}41`) },
  { name: 'capability set of n digits', build: (n) => line('BPRM_FCAPS', `fp=${repeat('f', n)}`) },
  { name: 'execve aN with no argc', build: (n) => [line('SYSCALL', 'arch=c000003e syscall=59 pid=1'), line('EXECVE', Array.from({ length: Math.max(1, Math.floor(n / 8)) }, (_, i) => `a${i}=41`).join(' '))].join('\n') },
  { name: 'execve argc=4294967295', build: (n) => [line('SYSCALL', 'arch=c000003e syscall=59'), line('EXECVE', `argc=4294967295 ${repeat('a0[4294967294]=41 ', n)}`)].join('\n') },
  { name: 'execve chunks a0[i]', build: (n) => line('EXECVE', `argc=1 ${Array.from({ length: Math.max(1, Math.floor(n / 10)) }, (_, i) => `a0[${i}]=41`).join(' ')}`) },
  { name: 'records of one serial', build: (n) => [line('SYSCALL', 'arch=c000003e syscall=2'), ...Array.from({ length: Math.max(1, Math.floor(n / 48)) }, (_, i) => line('PATH', `item=${i} name="/x"`))].join('\n') },
  { name: 'prototype names', build: (n) => line('USER', repeat('__proto__=1 constructor=2 toString=3 ', n)) },
  { name: 'type=__proto__ lines', build: (n) => Array.from({ length: Math.max(1, Math.floor(n / 48)) }, (_, i) => line(['__proto__', 'constructor', 'toString'][i % 3], 'pid=1', i + 1)).join('\n') },
];

/** Rule text shapes: name → one rule line of about n bytes. */
export const RULE_SHAPES = [
  { name: '-S list', build: (n) => `-a always,exit -F arch=b64 -S ${repeat('openat,', n).slice(0, -1)}` },
  { name: 'io_uring -S list', build: (n) => `-a always,io_uring -S ${repeat('1,', n).slice(0, -1)}` },
  { name: 'long -F path', build: (n) => `-a always,exit -F arch=b64 -S openat -F path=/${repeat('a', n)}` },
  { name: 'watch of slashes', build: (n) => `-w /${repeat('/', n)} -p wa` },
  { name: 'escaped spaces', build: (n) => `-a always,exit -F arch=b64 -S openat -k ${repeat('a\\ ', n)}` },
];
