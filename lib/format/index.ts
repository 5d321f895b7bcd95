// The three ways an event is written out: json (the documented schema), text
// (for people, like ausearch -i) and raw (audit.log lines).
import type { AuditEvent } from '../assemble/event.js';
import { eventToRaw, eventToRawBytes } from './raw.js';
import { eventToText } from './text.js';
import type { JsonRecords } from '../shape/json.js';

export { eventToRaw, eventToRawBytes, recordToRaw } from './raw.js';
export { eventToText, recordToText, type TextOptions } from './text.js';
export { escapeBytes, escapeText } from './escape.js';

export const FORMATS = ['json', 'text', 'raw', 'ecs'] as const;
export type Format = (typeof FORMATS)[number];

/**
 * The event as one line (lines, for raw); bytes when a raw log line was not
 * UTF-8 and must be written back unchanged. `records` sets how much of each
 * record JSON carries (docs/event-schema.md).
 */
export function formatEvent(ev: AuditEvent, format: Format, color = false, records: JsonRecords = 'full'): string | Buffer {
  switch (format) {
    case 'json':
      return JSON.stringify(records === 'full' ? ev : ev.toJSONWith(records));
    case 'raw':
      return eventToRawBytes(ev) ?? eventToRaw(ev);
    case 'ecs':
      return JSON.stringify(ev.toECS());
    case 'text':
      return eventToText(ev, { color });
  }
}
