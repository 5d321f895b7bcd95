// Access to test/corpus (real audit records from public projects; see its SOURCES.md).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The corpus is part of the repository (test/corpus); LINUX_AUDIT_CORPUS overrides. */
export const CORPUS = process.env.LINUX_AUDIT_CORPUS ?? path.resolve(here, '..', 'corpus');

export function corpusPath(...parts: string[]): string {
  return path.join(CORPUS, ...parts);
}

export function readCorpus(...parts: string[]): string {
  return fs.readFileSync(corpusPath(...parts), 'utf8');
}

export function listCorpus(dir: string, suffix: string): string[] {
  return fs
    .readdirSync(corpusPath(dir))
    .filter((f) => f.endsWith(suffix))
    .sort();
}

/** Lines of a log file as auditd wrote them (no newline conversion; trailing newline optional). */
export function logLines(...parts: string[]): string[] {
  const text = readCorpus(...parts);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
