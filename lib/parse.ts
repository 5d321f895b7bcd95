// linux-audit/parse: audit records and events without the addon. Everything
// here works on text and bytes (log files, lines from another host, captures),
// so a tool that only reads logs needs no compiled binary.
export { AuditRecord, parseLogLine, decodeStats } from './decode/record.js';
export { DECODE_LIMITS } from './decode/fields.js';
export type { RawField, AuditRecordJSON } from './decode/record.js';
export { AuditEvent } from './assemble/event.js';
export type { AuditEventJSON, RecordJSON, IdJSON, ProcessJSON, PathJSON, SyscallJSON } from './shape/json.js';
export type { Summary } from './shape/summary.js';
export { Assembler } from './assemble/assembler.js';
export type { AssemblerOptions, AssemblerStats } from './assemble/assembler.js';
export { readAuditLog } from './logfile/read.js';
export type { ReadAuditLogOptions, ReadAuditLogStats, AuditLogEvents } from './logfile/read.js';
export { interpretValue, interpretRecord, fieldKind, parseSockaddr, sockaddrText } from './interpret/index.js';
export { useIdentityFiles } from './identity/files.js';
export type { FieldKind, SocketAddress } from './interpret/index.js';
export { RECORD_TYPES, RECORD_TYPE_NAMES, recordTypeName } from './constants/index.js';
