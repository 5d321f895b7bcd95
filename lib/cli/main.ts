#!/usr/bin/env node
// The linux-audit command: one binary, a subcommand per job, errors as one
// line with the exit code the README documents.
import { AuditError } from '../errors.js';
import { RuleSyntaxError } from '../rules/parse.js';
import { FilterError } from '../filter/index.js';
import { EXIT, UsageError } from './args.js';
import { SETTING_HELP, settingCommand, statusCommand } from './control.js';
import { parseCommand } from './parse.js';
import { rulesCommand } from './rules.js';
import { tailCommand } from './tail.js';
import { forwardCommand } from './forward.js';
import { watchCommand } from './watch.js';
import { benchCommand } from './bench.js';
import { ConfigError } from '../config/index.js';
import { SinkSpecError } from '../sinks/index.js';

const HELP = `Usage: linux-audit <command> [options]     (linux-audit <command> --help for more)

  status                   the kernel's audit status (auditctl -s)
  enable | disable         turn kernel auditing on or off (auditctl -e 1 | -e 0)
  backlog N                set backlog_limit (auditctl -b)
  rate N                   set rate_limit (auditctl -r)
  rules …                  list, add, delete, flush, load FILE|DIR, preset NAME
  tail                     live events: filters, --format json|text|raw
  parse [FILE…]            events from audit.log files or stdin, same filters and formats
  forward                  the agent: events to syslog (udp, tcp, tls, relp), files, stdout
  watch                    alerts when a container does what it has never done, or what is never acceptable
  bench [SCENARIO…]        the benchmark harness (npm run bench), against auditd and a C reader

Exit codes: 0 done; 1 the operation failed (the kernel refused, a file could
not be read); 2 the command line or the config file is wrong; 3 some rules
of a file failed.
Most commands need root (CAP_AUDIT_CONTROL); parse does not.`;

const out = (line: string): void => void process.stdout.write(line + '\n');
const err = (line: string): void => void process.stderr.write(line + '\n');

async function run(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      if (command === undefined) return err(HELP), EXIT.usage;
      return out(HELP), EXIT.ok;
    case 'status':
      return statusCommand(args, out);
    case 'enable':
    case 'disable':
    case 'backlog':
    case 'rate':
      return settingCommand(command as keyof typeof SETTING_HELP, args, out);
    case 'rules':
      return rulesCommand(args, out, err);
    case 'tail':
      return tailCommand(args, process.stdout, err);
    case 'parse':
      return parseCommand(args, process.stdout, process.stderr);
    case 'forward':
      return forwardCommand(args, out, err);
    case 'watch':
      return watchCommand(args, out, err);
    case 'bench':
      return benchCommand(args);
    default:
      throw new UsageError(`unknown command "${command}"; commands: status, enable, disable, backlog, rate, rules, tail, parse, forward, watch, bench`);
  }
}

const argv = process.argv.slice(2);
const name = argv[0] !== undefined && !argv[0].startsWith('-') ? `linux-audit ${argv[0]}` : 'linux-audit';
try {
  process.exitCode = await run(argv);
} catch (e) {
  // Mistakes in what the user typed: exit 2. A rule that does not parse is
  // one too, wherever it was written, and so is a wrong config file.
  if (e instanceof UsageError || e instanceof FilterError || e instanceof RuleSyntaxError || e instanceof ConfigError || e instanceof SinkSpecError) {
    err(`${name}: ${e.message} (see ${name} --help)`);
    process.exitCode = EXIT.usage;
  } else if (e instanceof AuditError || (e as NodeJS.ErrnoException).code !== undefined) {
    err(`${name}: ${(e as Error).message.replace(/\n/g, ' ')}`);
    process.exitCode = EXIT.failed;
  } else {
    throw e;
  }
}
