// Every way out an event has, for tests that only need none of them to throw.
import type { AuditEvent } from '../../lib/assemble/event.js';
import { formatEvent } from '../../lib/format/index.js';
import { SyslogFormatter } from '../../lib/sinks/syslog-message.js';

const syslogJson = new SyslogFormatter({ hostname: 'h', payload: 'json' });
const syslogRaw = new SyslogFormatter({ hostname: 'h', payload: 'raw' });

/** JSON (parsed back), text, raw, both syslog payloads, every record's meanings and the command line. */
export function everyOutput(ev: AuditEvent): void {
  JSON.parse(JSON.stringify(ev));
  formatEvent(ev, 'text');
  formatEvent(ev, 'raw');
  syslogJson.messages(ev);
  syslogRaw.messages(ev);
  for (const r of ev.records) void r.interpreted;
  void ev.argv;
}
