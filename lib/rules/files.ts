// Rules files and rules.d directories, read the way augenrules merges them.
import fs from 'node:fs';
import path from 'node:path';
import { parseRuleLine, RuleSyntaxError, type ParseOptions, type RuleCommand } from './parse.js';

export interface RuleLine {
  file: string;
  line: number;
  text: string;
}

/** Natural order as `ls -v` sorts: byte order, but runs of digits compared as numbers. */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny && Number(x) !== Number(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** The lines of a file, or of every *.rules file of a directory in natural order. */
export function readRuleLines(target: string): RuleLine[] {
  const st = fs.statSync(target);
  const files = st.isDirectory()
    ? fs
        .readdirSync(target)
        .filter((f) => f.endsWith('.rules'))
        .sort(naturalCompare)
        .map((f) => path.join(target, f))
    : [target];
  const out: RuleLine[] = [];
  for (const file of files) {
    fs.readFileSync(file, 'utf8')
      .split('\n')
      .forEach((text, i) => out.push({ file, line: i + 1, text: text.replace(/\r$/, '') }));
  }
  return out;
}

/** A line with what it says, or why it could not be read. */
export type PlannedLine = RuleLine & ({ command: RuleCommand; error?: undefined } | { command?: undefined; error: RuleSyntaxError });

/**
 * Parse lines in order. With `augenrules`, order them as augenrules merges a
 * rules.d directory: the last plain -D first, then the last -b, then the last
 * -f, the rest in order, and the last -e at the end. Lines that do not parse
 * stay in place with their error, so the loader can stop or go on there as the
 * -c and -i lines before them say.
 */
export function planRules(lines: RuleLine[], options: Omit<ParseOptions, 'file' | 'line'> & { augenrules?: boolean } = {}): PlannedLine[] {
  const body: PlannedLine[] = [];
  let deleteAll: PlannedLine | undefined;
  let backlog: PlannedLine | undefined;
  let failure: PlannedLine | undefined;
  let enable: PlannedLine | undefined;
  for (const l of lines) {
    let command: RuleCommand | undefined;
    try {
      command = parseRuleLine(l.text, { ...options, file: l.file, line: l.line });
    } catch (e) {
      if (!(e instanceof RuleSyntaxError)) throw e;
      body.push({ ...l, error: e });
      continue;
    }
    if (!command) continue;
    const p: PlannedLine = { ...l, command };
    if (!options.augenrules) body.push(p);
    else if (command.kind === 'deleteAll' && command.key === undefined) deleteAll = p;
    else if (command.kind === 'set' && command.setting === 'backlogLimit') backlog = p;
    else if (command.kind === 'set' && command.setting === 'failure') failure = p;
    else if (command.kind === 'set' && command.setting === 'enabled') enable = p;
    else body.push(p);
  }
  return [deleteAll, backlog, failure, ...body, enable].filter((p): p is PlannedLine => p !== undefined);
}
