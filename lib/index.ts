// The public surface of linux-audit: the live stream, the control client and
// the container watch, which need the addon, and everything of the addon-free
// entry points (linux-audit/parse, linux-audit/rules) so one import serves.
export * from './parse.js';
export * from './rules.js';
export { subscribe, Subscription } from './subscribe/subscription.js';
export type { SubscribeOptions, SubscribeMode, SubscriptionStats, SubscriptionRules } from './subscribe/subscription.js';
export { AuditClient } from './client/client.js';
export type { ClientOptions, LockOption, PanicOption, FeatureName } from './client/client.js';
export type { AuditStatus, AuditFeatures } from './client/status.js';
export type { LoadOptions, LoadResult, LoadFailure, RuleInput } from './client/rules.js';
export { AuditError } from './errors.js';
export { containerFromCgroup } from './enrich/container.js';
export type { ContainerInfo, ContainerRuntime } from './enrich/container.js';
export type { ContainerDetails } from './enrich/runtime.js';
export type { ProcessInfo } from './enrich/process.js';
export { watch, Watch, forgetProfiles } from './watch/watch.js';
export type { WatchOptions, WatchStats, ContainerSummary } from './watch/watch.js';
export { ALERT_KINDS, alertToJSON, alertToText } from './watch/alert.js';
export type { Alert, AlertKind, AlertSeverity, AlertContainer } from './watch/alert.js';
export { WatchStateError } from './watch/profile.js';
export type { ProfileOptions, LearnOptions } from './watch/profile.js';
