// Command-line parsing shared by the subcommands: node:util's parseArgs, with
// its errors turned into one line that names the command and where to look.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes (documented in the README and in `linux-audit --help`). */
export const EXIT = {
  ok: 0,
  /** The operation failed: the kernel refused, a file could not be read, a receiver is away. */
  failed: 1,
  /** The command line or the config file is wrong. */
  usage: 2,
  /** Some rules of a file loaded, others failed (with -c or --continue). */
  partial: 3,
} as const;

/** A mistake on the command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** parseArgs with every option strict; `help` is always accepted. */
export function parse(args: string[], options: Options, allowPositionals = false): Parsed {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true }) as Parsed;
  } catch (e) {
    // parseArgs words its errors for developers ("Unknown option '--x'. To
    // specify a positional argument starting with a '-', place it at the end
    // of the command after '--', as in '-- \"--x\"'"): keep the first sentence.
    const message = (e as Error).message.split('. ')[0].replace(/\.$/, '');
    throw new UsageError(message);
  }
}

/** A whole number, or a UsageError that says which option (`--count`) or argument and why. */
export function integer(label: string, value: string | undefined, min = 0, max = 0xffffffff): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${label} wants a whole number from ${min} to ${max}, not "${value}"`);
  }
  return Number(value);
}

/** A value that must be one of a few words. */
export function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, not "${value}"`);
  return value as T;
}

/** Repeated options and comma lists both give several values: `--key a --key b`, `--key a,b`. */
export function list(value: string | boolean | string[] | boolean[] | undefined): string[] {
  if (value === undefined || typeof value === 'boolean') return [];
  const values = Array.isArray(value) ? value : [value];
  return values.flatMap((v) => String(v).split(',')).filter((v) => v !== '');
}
