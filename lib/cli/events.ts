// What tail and parse share: the event filters and the output options.
import type { ParseArgsConfig } from 'node:util';
import type { EventFilter } from '../filter/index.js';
import { type Parsed, UsageError, integer, list, oneOf } from './args.js';
import { FORMAT_HELP } from './output.js';
import { JSON_RECORDS, type JsonRecords } from '../shape/json.js';

export const EVENT_OPTIONS = {
  key: { type: 'string', short: 'k', multiple: true },
  type: { type: 'string', short: 't', multiple: true },
  syscall: { type: 'string', short: 'S', multiple: true },
  pid: { type: 'string', short: 'p', multiple: true },
  uid: { type: 'string', short: 'u', multiple: true },
  exe: { type: 'string', short: 'x', multiple: true },
  container: { type: 'string', multiple: true },
  success: { type: 'string' },
  'not-key': { type: 'string', multiple: true },
  'not-exe': { type: 'string', multiple: true },
  'exe-match': { type: 'string' },
  'not-exe-match': { type: 'string' },
  'path-match': { type: 'string' },
  'not-path-match': { type: 'string' },
  format: { type: 'string', short: 'f' },
  records: { type: 'string' },
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
      --exe-match RE       the executable matches the regular expression RE
      --path-match RE      one of the event's paths (PATH names, cwd) matches RE
Exclusions (events that match are left out):
      --not-key K          events with rule key K
      --not-exe E          events of executable E (a full path or a bare name); forward
                           also installs -A never,exit -F exe=PATH for a full path, so the
                           kernel does not audit it at all (removed at exit)
      --not-exe-match RE   events whose executable matches RE
      --not-path-match RE  events whose every path matches RE (e.g. '^/proc/')
Output:
${FORMAT_HELP}
      --records full|fields|none   how much of each record JSON carries: full (text, fields,
                           meanings), fields (no text), none (only the summaries)
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
    notKeys: list(values['not-key']),
    notExes: list(values['not-exe']),
    exeMatch: values['exe-match'] as string | undefined,
    notExeMatch: values['not-exe-match'] as string | undefined,
    pathMatch: values['path-match'] as string | undefined,
    notPathMatch: values['not-path-match'] as string | undefined,
  };
}

export function recordsFrom(values: Parsed['values']): JsonRecords | undefined {
  return oneOf('records', values.records as string | undefined, JSON_RECORDS);
}

export function colorFrom(values: Parsed['values']): boolean | undefined {
  if (values.color && values['no-color']) throw new UsageError('--color and --no-color contradict each other');
  return values.color ? true : values['no-color'] ? false : undefined;
}
