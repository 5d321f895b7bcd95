// Rules on the control socket: add, delete, list, load. Kept apart from the
// status requests in client.ts; AuditClient exposes both.
import fs from 'node:fs';
import { MSG } from '../constants/index.js';
import { AuditError } from '../errors.js';
import type { AuditChannel } from '../transport/channel.js';
import { parseRuleLine, type ParseOptions, type RuleCommand } from '../rules/parse.js';
import { decodeRule, encodeRule, ruleKeys, type AuditRule } from '../rules/rule.js';
import { formatRule } from '../rules/format.js';
import { planRules, readRuleLines, type PlannedLine, type RuleLine } from '../rules/files.js';

/** A rule given as auditctl text or already parsed. */
export type RuleInput = string | AuditRule;

export interface LoadOptions extends Omit<ParseOptions, 'file' | 'line'> {
  /** Go on after a failing line and report it (as a `-c` line in the file would). Default: stop. */
  continueOnError?: boolean;
  /** Allow `-e 2` and `--loginuid-immutable`, which lock the configuration until reboot. */
  dangerouslyLockUntilReboot?: boolean;
  /** Allow `-f 2`, which makes the kernel panic when it must lose records. */
  dangerouslyPanicOnFailure?: boolean;
}

export interface LoadFailure {
  file: string;
  line: number;
  text: string;
  error: Error;
}

export interface LoadResult {
  /** Rules added and deleted. */
  added: number;
  deleted: number;
  /** Control lines applied (-D, -b, -f, -e, -r, --backlog_wait_time, …). */
  applied: number;
  /** Lines that failed, when failures were allowed to go on. */
  failures: LoadFailure[];
  /** What the parser warned about (e.g. a syscall rule without an arch). */
  warnings: Array<{ file: string; line: number; message: string }>;
}

/** The subset of AuditClient the rules requests need. */
export interface RuleHost {
  channel: AuditChannel;
  timeoutMs: number;
  applySetting(command: Extract<RuleCommand, { kind: 'set' }>, options: LoadOptions): Promise<void>;
  lockLoginuid(): Promise<void>;
  resetLost(): Promise<number>;
  isLocked(): Promise<boolean>;
}

/** The rule a line describes; `-a …` and `-d …` (or -w and -W) name the same rule. */
function toRule(input: RuleInput, options: ParseOptions): AuditRule {
  if (typeof input !== 'string') return input;
  const c = parseRuleLine(input, options);
  if (!c || (c.kind !== 'add' && c.kind !== 'delete')) {
    throw new AuditError(`not a rule: "${input}"; expected -a, -A, -d, -w or -W`, 'ERR_AUDIT_RULE_SYNTAX');
  }
  return c.rule;
}

async function ruleError(host: RuleHost, e: unknown, rule: AuditRule, adding: boolean): Promise<Error> {
  const err = e as AuditError;
  const text = formatRule(rule);
  let message: string | undefined;
  switch (err.code) {
    case 'EEXIST':
      message = `the kernel already has this rule: ${text}`;
      break;
    case 'ENOENT':
      message = adding ? `the directory of the watched path does not exist, so the kernel cannot watch it: ${text}` : `the kernel has no such rule: ${text}`;
      break;
    case 'EINVAL':
      message = `the kernel refused the rule as invalid (a field not allowed on this list, an operator the field does not take, or a syscall or arch this kernel does not have): ${text}`;
      break;
    case 'EPERM':
      message = (await host.isLocked().catch(() => false))
        ? `the audit configuration is locked (enabled=2) until reboot; no rule can change: ${text}`
        : undefined;
      break;
  }
  if (!message) return err;
  return new AuditError(message, err.code, err.errno, err.syscall, { cause: err });
}

export async function addRule(host: RuleHost, input: RuleInput, options: ParseOptions = {}): Promise<AuditRule> {
  const rule = toRule(input, options);
  try {
    await host.channel.request(MSG.ADD_RULE, encodeRule(rule), { timeoutMs: host.timeoutMs });
  } catch (e) {
    throw await ruleError(host, e, rule, true);
  }
  return rule;
}

/**
 * The bytes that delete a rule. The kernel stores a prepended (-A) rule without
 * the prepend flag and compares flags when deleting, so it must not be sent.
 */
export function encodeRuleForDelete(rule: AuditRule): Buffer {
  return encodeRule({ ...rule, prepend: false });
}

export async function deleteRule(host: RuleHost, input: RuleInput, options: ParseOptions = {}): Promise<void> {
  const rule = toRule(input, options);
  try {
    await host.channel.request(MSG.DEL_RULE, encodeRuleForDelete(rule), { timeoutMs: host.timeoutMs });
  } catch (e) {
    throw await ruleError(host, e, rule, false);
  }
}

export async function listRuleData(host: RuleHost): Promise<AuditRule[]> {
  const { replies } = await host.channel.request(MSG.LIST_RULES, undefined, { reply: 'many', timeoutMs: host.timeoutMs });
  return replies.filter((r) => r.type === MSG.LIST_RULES).map((r) => decodeRule(r.payload));
}

/** Delete every rule, or those carrying `key`; returns how many. */
export async function deleteAllRules(host: RuleHost, key?: string): Promise<number> {
  const rules = await listRuleData(host);
  let n = 0;
  for (const rule of rules) {
    if (key !== undefined && !ruleKeys(rule).includes(key)) continue;
    await deleteRule(host, rule);
    n++;
  }
  return n;
}

/** Rule requests in flight at once while loading: the kernel answers each in order. */
const LOAD_WINDOW = 64;

/**
 * Load rules: text, a rules file, or a rules.d directory (its *.rules files in
 * natural order, merged as augenrules merges them). Stops at the first failing
 * line with an error that names file:line, unless `continueOnError` or a `-c`
 * or `-i` line before it says to go on.
 *
 * Rule lines are sent up to LOAD_WINDOW at a time rather than one round trip
 * each (the kernel handles them in order). When one fails and loading must
 * stop, the rules of that window sent after it are undone, so the kernel ends
 * as it would have had each line waited for the one before.
 */
export async function loadRules(host: RuleHost, source: string | { path: string }, options: LoadOptions = {}): Promise<LoadResult> {
  let lines: RuleLine[];
  let augenrules = false;
  if (typeof source === 'string') {
    lines = source.split('\n').map((text, i) => ({ file: 'rules', line: i + 1, text: text.replace(/\r$/, '') }));
  } else {
    augenrules = fs.statSync(source.path).isDirectory();
    lines = readRuleLines(source.path);
  }
  const result: LoadResult = { added: 0, deleted: 0, applied: 0, failures: [], warnings: [] };
  let goOn = options.continueOnError ?? false;
  type Sent = { line: PlannedLine; kind: 'add' | 'delete'; rule: AuditRule; done: Promise<unknown> };
  let window: Sent[] = [];

  const fail = (line: RuleLine, e: unknown): void => {
    const error = e as Error;
    const where = `${line.file}:${line.line}`;
    if (!goOn) {
      throw error.message.startsWith(where) ? error : new AuditError(`${where}: ${error.message}`, (error as AuditError).code ?? 'ERR_AUDIT_RULE', undefined, undefined, { cause: error });
    }
    result.failures.push({ file: line.file, line: line.line, text: line.text, error });
  };

  const flush = async (): Promise<void> => {
    const sent = window;
    window = [];
    const settled = await Promise.allSettled(sent.map((w) => w.done));
    for (let i = 0; i < sent.length; i++) {
      const s = settled[i];
      if (s.status === 'fulfilled') {
        if (sent[i].kind === 'add') result.added++;
        else result.deleted++;
        continue;
      }
      if (!goOn) {
        // Undo what the window did after the failing line, newest first.
        for (let j = sent.length - 1; j > i; j--) {
          if (settled[j].status !== 'fulfilled') continue;
          const undo = sent[j].kind === 'add' ? deleteRule(host, sent[j].rule) : addRule(host, sent[j].rule);
          await undo.catch(() => undefined);
        }
      }
      fail(sent[i].line, s.reason);
    }
  };

  for (const p of planRules(lines, { ...options, augenrules })) {
    if (p.command?.kind === 'add' || p.command?.kind === 'delete') {
      const c = p.command;
      const done = c.kind === 'add' ? addRule(host, c.rule) : deleteRule(host, c.rule);
      done.catch(() => undefined); // settled in flush()
      window.push({ line: p, kind: c.kind, rule: c.rule, done });
      if (c.kind === 'add') for (const w of c.warnings) result.warnings.push({ file: p.file, line: p.line, message: w });
      if (window.length >= LOAD_WINDOW) await flush();
      continue;
    }
    // Anything else waits for the rules before it, and they for it.
    await flush();
    try {
      if (p.error) throw p.error;
      const c = p.command;
      switch (c.kind) {
        case 'deleteAll':
          await deleteAllRules(host, c.key);
          result.applied++;
          break;
        case 'set':
          await host.applySetting(c, options);
          result.applied++;
          break;
        case 'loginuidImmutable':
          if (!options.dangerouslyLockUntilReboot) {
            throw new AuditError('--loginuid-immutable locks loginuid until reboot; pass { dangerouslyLockUntilReboot: true } to apply it', 'ERR_AUDIT_LOCK_REFUSED');
          }
          await host.lockLoginuid();
          result.applied++;
          break;
        case 'resetLost':
          await host.resetLost();
          result.applied++;
          break;
        case 'ignoreErrors':
        case 'continueOnError':
          goOn = true;
          break;
      }
    } catch (e) {
      fail(p, e);
    }
  }
  await flush();
  return result;
}
