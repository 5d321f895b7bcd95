// What tail and parse share: the event filters and the output options.
import type { ParseArgsConfig } from 'node:util';
import type { EventFilter } from '../filter/index.js';
import { type Parsed, UsageError, integer, list, oneOf } from './args.js';
import { FORMAT_HELP } from './output.js';

export const EVENT_OPTIONS = {
  key: { type: 'string', short: 'k', multiple: true },
  type: { type: 'string', short: 't', multiple: true },
  syscall: { type: 'string', short: 'S', multiple: true },
  pid: { type: 'string', short: 'p', multiple: true },
  uid: { type: 'string', short: 'u', multiple: true },
  exe: { type: 'string', short: 'x', multiple: true },
  container: { type: 'string', multiple: true },
  success: { type: 'string' },
  format: { type: 'string', short: 'f' },
  color: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  count: { type: 'string', short: 'n' },
} satisfies NonNullable<ParseArgsConfig['options']>;

export const EVENT_OPTIONS_HELP = `Filters (each may repeat or take a comma list; different filters must all match):
  -k, --key K              events whose rule key is K
  -t, --type T             events with a record of type T (SYSCALL, USER_LOGIN, 1300 …)
  -S, --syscall S          syscall name or number (execve, 59)
  -p, --pid N              events of process N
  -u, --uid U              user name or id, as uid, euid or auid (like ausearch -ua)
  -x, --exe E              executable: a full path, or a bare name matched to its last part
      --container C        any (in some container), host (in none; not unknown), an id prefix,
                           a name, a pod, or NAMESPACE/POD (names once the engine has answered)
      --success yes|no     whether the syscall or operation succeeded
Output:
${FORMAT_HELP}
      --color, --no-color  colour in text output (default: on a terminal, unless NO_COLOR is set)
  -n, --count N            stop after N events`;

export function filterFrom(values: Parsed['values']): EventFilter {
  const pids = list(values.pid).map((p) => integer('--pid', p)!);
  const success = oneOf('success', values.success as string | undefined, ['yes', 'no'] as const);
  return {
    keys: list(values.key),
    types: list(values.type),
    syscalls: list(values.syscall),
    pids,
    uids: list(values.uid),
    exes: list(values.exe),
    containers: list(values.container),
    success: success === undefined ? undefined : success === 'yes',
  };
}

export function colorFrom(values: Parsed['values']): boolean | undefined {
  if (values.color && values['no-color']) throw new UsageError('--color and --no-color contradict each other');
  return values.color ? true : values['no-color'] ? false : undefined;
}
