// rules list|add|delete|flush|load|preset: the kernel's rules, in auditctl's
// language. add and delete take the rest of the command line verbatim, so a
// line copied from a rules file or an auditctl command works as it is.
import { AuditClient } from '../client/client.js';
import { formatRule } from '../rules/format.js';
import { PRESETS, presetRules, type PresetName } from '../rules/presets.js';
import { ruleKeys } from '../rules/rule.js';
import { EXIT, UsageError, parse } from './args.js';

export const RULES_HELP = `Usage: linux-audit rules <action> …

  list [--key K] [--json]   the kernel's rules as auditctl -l prints them ("No rules" when none)
  add RULE                  add one rule, written as for auditctl:
                              linux-audit rules add -a always,exit -F arch=b64 -S execve -k exec
                              linux-audit rules add -w /etc/docker -p wa -k docker
  delete RULE               delete one rule (-d …, or the -a/-w form it was added with)
  flush [--key K]           delete every rule, or those with key K (auditctl -D [-k K])
  load FILE|DIR [--continue]
                            a rules file, or a rules.d directory as augenrules reads it
                            (lexical order, *.rules); control lines (-D, -b, -e 1 …) apply
                            in order. Stops at the first failing line unless --continue
                            or a -c line in the file says go on; exit 3 when some failed.
  preset [NAME]             load a named rule set; without NAME, list them`;

/** Words from the command line back into one rule line (auditctl gets them the same way). */
function ruleLine(words: string[]): string {
  return words.map((w) => (/\s/.test(w) && !/^["']/.test(w) ? `"${w}"` : w)).join(' ');
}

export async function rulesCommand(args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === '--help' || action === '-h') return out(RULES_HELP), EXIT.ok;
  switch (action) {
    case 'list': {
      const { values } = parse(rest, { key: { type: 'string' }, json: { type: 'boolean' } });
      if (values.help) return out(RULES_HELP), EXIT.ok;
      return withClient(async (client) => {
        let rules = await client.listRuleData();
        if (values.key !== undefined) rules = rules.filter((r) => ruleKeys(r).includes(values.key as string));
        if (values.json) for (const r of rules) out(JSON.stringify({ rule: formatRule(r), ...r }));
        else if (rules.length === 0) out('No rules');
        else for (const r of rules) out(formatRule(r));
        return EXIT.ok;
      });
    }
    case 'add':
    case 'delete': {
      if (rest.length === 0) throw new UsageError(`rules ${action} wants a rule, e.g. linux-audit rules ${action} -w /etc/docker -p wa -k docker`);
      if (rest.length === 1 && (rest[0] === '--help' || rest[0] === '-h')) return out(RULES_HELP), EXIT.ok;
      const line = ruleLine(rest);
      return withClient(async (client) => {
        if (action === 'add') await client.addRule(line);
        else await client.deleteRule(line);
        return EXIT.ok;
      });
    }
    case 'flush': {
      const { values } = parse(rest, { key: { type: 'string' } });
      if (values.help) return out(RULES_HELP), EXIT.ok;
      return withClient(async (client) => {
        const n = await client.deleteAllRules(values.key as string | undefined);
        err(`deleted ${n} rule${n === 1 ? '' : 's'}`);
        return EXIT.ok;
      });
    }
    case 'load': {
      const { values, positionals } = parse(rest, { continue: { type: 'boolean' } }, true);
      if (values.help) return out(RULES_HELP), EXIT.ok;
      if (positionals.length !== 1) throw new UsageError('rules load wants one file or directory, e.g. linux-audit rules load /etc/audit/rules.d');
      return withClient(async (client) => {
        const result = await client.loadRules({ path: positionals[0] }, { continueOnError: values.continue === true });
        for (const w of result.warnings) err(`${w.file}:${w.line}: warning: ${w.message}`);
        for (const f of result.failures) err(`${f.file}:${f.line}: ${f.error.message}`);
        err(`added ${result.added}, deleted ${result.deleted}, settings ${result.applied}, failed ${result.failures.length}`);
        return result.failures.length > 0 ? EXIT.partial : EXIT.ok;
      });
    }
    case 'preset': {
      const { values, positionals } = parse(rest, {}, true);
      if (values.help) return out(RULES_HELP), EXIT.ok;
      if (positionals.length === 0) {
        for (const [name, p] of Object.entries(PRESETS)) out(`${name.padEnd(12)} ${p.description}`);
        return EXIT.ok;
      }
      if (positionals.length > 1) throw new UsageError('rules preset wants one name');
      const name = positionals[0];
      if (!Object.hasOwn(PRESETS, name)) throw new UsageError(`unknown preset "${name}"; presets: ${Object.keys(PRESETS).join(', ')}`);
      const preset = presetRules(name as PresetName);
      for (const s of preset.skipped) err(`skipped: ${s.rule} (${s.reason})`);
      return withClient(async (client) => {
        const result = await client.loadRules(preset.rules.join('\n'));
        err(`added ${result.added} rules of preset ${name}`);
        return EXIT.ok;
      });
    }
    default:
      throw new UsageError(`unknown rules action "${action}"; actions: list, add, delete, flush, load, preset`);
  }
}

async function withClient(run: (client: AuditClient) => Promise<number>): Promise<number> {
  const client = await AuditClient.open();
  try {
    return await run(client);
  } finally {
    client.close();
  }
}
