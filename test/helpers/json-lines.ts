// Reading a file of JSON lines that an agent is still appending to.
import fs from 'node:fs';

/**
 * The file's complete lines, parsed; none if it does not exist yet. A read can
 * end inside a line the writer is still writing (or was SIGKILLed writing), so
 * only lines ended by a newline count.
 */
export function readJSONLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}
