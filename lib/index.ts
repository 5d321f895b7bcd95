// The public surface of linux-audit. Nothing else is part of the API.
export { subscribe, Subscription } from './subscribe/subscription.js';
export type { SubscribeOptions, SubscribeMode, SubscriptionStats } from './subscribe/subscription.js';
export { AuditClient } from './client/client.js';
export type { ClientOptions, LockOption, PanicOption, FeatureName } from './client/client.js';
export type { AuditStatus, AuditFeatures } from './client/status.js';
export { AuditRecord, parseLogLine } from './decode/record.js';
export type { RawField, AuditRecordJSON } from './decode/record.js';
export { AuditEvent } from './assemble/event.js';
export type { AuditEventJSON } from './assemble/event.js';
export { Assembler } from './assemble/assembler.js';
export type { AssemblerOptions, AssemblerStats } from './assemble/assembler.js';
export { readAuditLog } from './logfile/read.js';
export type { ReadAuditLogOptions } from './logfile/read.js';
export { AuditError } from './errors.js';
export { RECORD_TYPES, RECORD_TYPE_NAMES, recordTypeName } from './constants/index.js';
