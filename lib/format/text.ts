// Events for people: laid out like `ausearch -i` (a `----` line, then each
// record with interpreted values), with what we add (summary, container,
// ancestry) above the records. Every value is escaped for the terminal.
import type { AuditEvent } from '../assemble/event.js';
import type { AuditRecord } from '../decode/record.js';
import { hexBytes } from '../decode/fields.js';
import { lossyHexFields } from '../shape/json.js';
import { escapeBytes, escapeText } from './escape.js';

export interface TextOptions {
  /** ANSI colour (the command turns it on for a TTY unless NO_COLOR is set). Default false. */
  color?: boolean;
}

const STYLE = { bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', cyan: '\x1b[36m', reset: '\x1b[0m' } as const;

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** ausearch -i's local time (strftime %x %T in the C locale): MM/DD/YY HH:MM:SS.mmm. */
export function ausearchTime(ms: number): string {
  const d = new Date(ms);
  const millis = String(d.getMilliseconds()).padStart(3, '0');
  return `${pad2(d.getMonth() + 1)}/${pad2(d.getDate())}/${pad2(d.getFullYear() % 100)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${millis}`;
}

/** One record as `ausearch -i` prints it: `type=T msg=audit(TIME:SERIAL) : k=v …`. */
export function recordToText(r: AuditRecord, options: TextOptions = {}): string {
  const c = options.color === true;
  const paint = (style: string, s: string): string => (c ? `${style}${s}${STYLE.reset}` : s);
  const type = paint(STYLE.bold, `type=${r.typeName}`);
  if (r.malformed !== undefined) return `${type} ${paint(STYLE.red, `(malformed: ${escapeText(r.malformed)})`)} ${escapeText(r.text)}`;
  const lossy = lossyHexFields(r);
  const meanings = r.interpreted;
  const parts: string[] = [];
  for (const key in meanings) {
    const hex = lossy?.[key];
    let value = hex !== undefined ? escapeBytes(hexBytes(hex, 0, hex.length)) : escapeText(meanings[key]);
    if (c && (key === 'success' || key === 'res' || key === 'result')) value = paint(/^(no|failed|fail|0)$/.test(value) ? STYLE.red : STYLE.green, value);
    parts.push(`${c ? paint(STYLE.dim, escapeText(key) + '=') : escapeText(key) + '='}${value}`);
  }
  const node = r.node !== undefined ? `node=${escapeText(r.node)} ` : '';
  return `${node}${type} msg=audit(${ausearchTime(r.time)}:${r.serial}) : ${parts.join(' ')}`;
}

/** One event: `----`, what we add (summary, container, parents), then its records. */
export function eventToText(ev: AuditEvent, options: TextOptions = {}): string {
  const c = options.color === true;
  const paint = (style: string, s: string): string => (c ? `${style}${s}${STYLE.reset}` : s);
  const lines = ['----'];
  const s = ev.summary;
  if (s !== undefined) {
    const words = [
      s.actor.primary !== undefined ? escapeText(s.actor.primary) : '?',
      s.action ?? '?',
      [s.object.type, s.object.primary, s.object.secondary].filter((x) => x !== undefined).map((x) => escapeText(x!)).join(' '),
    ];
    if (s.how !== undefined) words.push(`via ${escapeText(s.how)}`);
    const result = s.result === 'fail' ? paint(STYLE.red, 'failed') : s.result === 'success' ? paint(STYLE.green, 'ok') : 'result unknown';
    lines.push(`${paint(STYLE.cyan, 'summary:')} ${words.filter((w) => w !== '').join(' ')}: ${result}`);
  }
  const container = ev.container;
  if (container) {
    const name = container.name !== undefined ? ` ${escapeText(container.name)}` : '';
    const image = container.image !== undefined ? ` image=${escapeText(container.image)}` : '';
    lines.push(`${paint(STYLE.cyan, 'container:')} ${container.runtime} ${container.id.slice(0, 12)}${name}${image}`);
  }
  const parents = ev.ancestry;
  if (parents.length > 0) {
    lines.push(`${paint(STYLE.cyan, 'parents:')} ${parents.map((p) => `${p.pid}${p.exe !== undefined ? ` ${escapeText(p.exe)}` : ''}`).join(' < ')}`);
  }
  for (const r of ev.records) lines.push(recordToText(r, options));
  return lines.join('\n');
}
