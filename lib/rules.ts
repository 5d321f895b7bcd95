// linux-audit/rules: the rule language without the addon: auditctl's syntax to
// struct audit_rule_data and back, the text auditctl -l prints, and the presets.
export { parseRuleLine, parseRules, RuleSyntaxError } from './rules/parse.js';
export type { RuleCommand, ParseOptions } from './rules/parse.js';
export { encodeRule, decodeRule } from './rules/rule.js';
export type { AuditRule, RuleField } from './rules/rule.js';
export { formatRule } from './rules/format.js';
export { PRESETS, presetRules } from './rules/presets.js';
export type { PresetName, PresetRules } from './rules/presets.js';
