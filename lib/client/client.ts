// The control plane: status, settings, features and user messages, on a socket
// of its own so replies never mix with events.
import { FEATURE, MSG, STATUS_MASK } from '../constants/index.js';
import { AuditError } from '../errors.js';
import { AuditChannel } from '../transport/channel.js';
import { decodeFeatures, decodeStatus, encodeFeatures, encodeStatus, type AuditFeatures, type AuditStatus, type StatusField } from './status.js';
import type { ParseOptions, RuleCommand } from '../rules/parse.js';
import type { AuditRule } from '../rules/rule.js';
import { formatRule } from '../rules/format.js';
import * as rules from './rules.js';
import type { LoadOptions, LoadResult, RuleHost, RuleInput } from './rules.js';

export interface ClientOptions {
  /** How long to wait for the kernel's answer to each request. Default 5000 ms. */
  timeoutMs?: number;
}

/** Pass to setEnabled(2, …) to lock the audit configuration until the next reboot. */
export interface LockOption {
  dangerouslyLockUntilReboot?: boolean;
}

/** Pass to setFailure(2, …) to make the kernel panic when it must lose records. */
export interface PanicOption {
  dangerouslyPanicOnFailure?: boolean;
}

export type FeatureName = keyof typeof FEATURE;

const FEATURE_NAMES: Record<string, number> = { ...FEATURE };

function checkU32(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new AuditError(`${what} must be an integer from 0 to 4294967295, got ${value}`, 'ERR_INVALID_ARG_VALUE');
  }
}

export class AuditClient {
  private readonly channel: AuditChannel;
  private readonly timeoutMs: number;

  private constructor(channel: AuditChannel, timeoutMs: number) {
    this.channel = channel;
    this.timeoutMs = timeoutMs;
  }

  /** Open a control socket. Needs root or CAP_AUDIT_CONTROL for most requests. */
  static async open(options: ClientOptions = {}): Promise<AuditClient> {
    // Replies only: nothing to gather, each is read as it comes.
    const channel = new AuditChannel({ bufferBytes: 1 << 20, latencyMs: 0 });
    channel.start();
    return new AuditClient(channel, options.timeoutMs ?? 5000);
  }

  async getStatus(): Promise<AuditStatus> {
    const { replies } = await this.channel.request(MSG.GET, undefined, { reply: 'one', timeoutMs: this.timeoutMs });
    return decodeStatus(replies[0].payload);
  }

  /** 0 turns auditing off, 1 on. 2 (locked until reboot) needs { dangerouslyLockUntilReboot: true }. */
  async setEnabled(enabled: 0 | 1 | 2, options: LockOption = {}): Promise<void> {
    if (enabled === 2 && !options.dangerouslyLockUntilReboot) {
      throw new AuditError(
        'setEnabled(2) locks the audit configuration until reboot; pass { dangerouslyLockUntilReboot: true } if that is what you want',
        'ERR_INVALID_ARG_VALUE',
      );
    }
    if (enabled !== 0 && enabled !== 1 && enabled !== 2) {
      throw new AuditError(`enabled must be 0, 1 or 2, got ${String(enabled)}`, 'ERR_INVALID_ARG_VALUE');
    }
    await this.set(STATUS_MASK.ENABLED, { enabled });
  }

  /** 0 silent, 1 printk (the default). 2 (panic) needs { dangerouslyPanicOnFailure: true }. */
  async setFailure(failure: 0 | 1 | 2, options: PanicOption = {}): Promise<void> {
    if (failure === 2 && !options.dangerouslyPanicOnFailure) {
      throw new AuditError(
        'setFailure(2) makes the kernel panic when it has to lose audit records; pass { dangerouslyPanicOnFailure: true } if that is what you want',
        'ERR_INVALID_ARG_VALUE',
      );
    }
    if (failure !== 0 && failure !== 1 && failure !== 2) {
      throw new AuditError(`failure must be 0, 1 or 2, got ${String(failure)}`, 'ERR_INVALID_ARG_VALUE');
    }
    await this.set(STATUS_MASK.FAILURE, { failure });
  }

  /**
   * Register this client's socket as the audit daemon (pid must be this process's
   * id), or unregister with 0. Events then arrive on this control socket and are
   * discarded: to receive them use subscribe(), which registers its own socket.
   */
  async setPid(pid: number): Promise<void> {
    checkU32('pid', pid);
    await this.set(STATUS_MASK.PID, { pid });
  }

  async setRateLimit(perSecond: number): Promise<void> {
    checkU32('rate limit', perSecond);
    await this.set(STATUS_MASK.RATE_LIMIT, { rateLimit: perSecond });
  }

  async setBacklogLimit(records: number): Promise<void> {
    checkU32('backlog limit', records);
    await this.set(STATUS_MASK.BACKLOG_LIMIT, { backlogLimit: records });
  }

  /** In jiffies, as auditctl --backlog_wait_time. */
  async setBacklogWaitTime(jiffies: number): Promise<void> {
    checkU32('backlog wait time', jiffies);
    await this.set(STATUS_MASK.BACKLOG_WAIT_TIME, { backlogWaitTime: jiffies });
  }

  /** Reset the kernel's lost counter; returns the value it had. */
  async resetLost(): Promise<number> {
    const { ack } = await this.channel.request(MSG.SET, encodeStatus(STATUS_MASK.LOST, {}), { timeoutMs: this.timeoutMs });
    return ack >>> 0;
  }

  async getFeatures(): Promise<AuditFeatures> {
    const { replies } = await this.channel.request(MSG.GET_FEATURE, undefined, { reply: 'one', timeoutMs: this.timeoutMs });
    return decodeFeatures(replies[0].payload);
  }

  /** Turn a feature on or off, e.g. setFeature('LOGINUID_IMMUTABLE', true). `lock` cannot be undone until reboot. */
  async setFeature(name: FeatureName, enabled: boolean, options: { lock?: boolean } = {}): Promise<void> {
    const n = Object.hasOwn(FEATURE_NAMES, name) ? FEATURE_NAMES[name] : undefined;
    if (n === undefined) {
      throw new AuditError(`unknown audit feature ${String(name)}; known: ${Object.keys(FEATURE).join(', ')}`, 'ERR_INVALID_ARG_VALUE');
    }
    const bit = 1 << n;
    const payload = encodeFeatures({ version: 1, mask: bit, features: enabled ? bit : 0, lock: options.lock ? bit : 0 });
    await this.channel.request(MSG.SET_FEATURE, payload, { timeoutMs: this.timeoutMs });
  }

  /**
   * Log a user-space message (types 1100-1299 and 2100-2999, or AUDIT_USER 1005),
   * as auditctl -m does. Needs CAP_AUDIT_WRITE.
   */
  async sendUserMessage(type: number, text: string): Promise<void> {
    if (!(type === MSG.USER || (type >= 1100 && type <= 1299) || (type >= 2100 && type <= 2999))) {
      throw new AuditError(`user message type must be 1005, 1100-1299 or 2100-2999, got ${type}`, 'ERR_INVALID_ARG_VALUE');
    }
    const bytes = Buffer.from(text + '\0', 'utf8');
    if (bytes.length > 8560) {
      throw new AuditError(`user message is ${bytes.length} bytes; the kernel keeps at most 8560`, 'ERR_INVALID_ARG_VALUE');
    }
    await this.channel.request(type, bytes, { timeoutMs: this.timeoutMs });
  }

  // --- rules -------------------------------------------------------------

  /** Add a rule given in auditctl syntax (`-a always,exit -F arch=b64 -S execve -k exec`) or parsed. Returns the rule sent. */
  addRule(rule: RuleInput, options?: ParseOptions): Promise<AuditRule> {
    return rules.addRule(this.ruleHost(), rule, options);
  }

  /** Delete a rule: the same text that added it (-a or -d, -w or -W), or a parsed rule. */
  deleteRule(rule: RuleInput, options?: ParseOptions): Promise<void> {
    return rules.deleteRule(this.ruleHost(), rule, options);
  }

  /** Delete every rule, or only those with this key. Returns how many were deleted. */
  deleteAllRules(key?: string): Promise<number> {
    return rules.deleteAllRules(this.ruleHost(), key);
  }

  /** The kernel's rules as `auditctl -l` prints them. */
  async listRules(): Promise<string[]> {
    return (await this.listRuleData()).map((r) => formatRule(r));
  }

  /** The kernel's rules, decoded. */
  listRuleData(): Promise<AuditRule[]> {
    return rules.listRuleData(this.ruleHost());
  }

  /** Load rules text, a rules file, or a rules.d directory (`{ path }`), as auditctl -R / augenrules do. */
  loadRules(source: string | { path: string }, options?: LoadOptions): Promise<LoadResult> {
    return rules.loadRules(this.ruleHost(), source, options);
  }

  private ruleHost(): RuleHost {
    return {
      channel: this.channel,
      timeoutMs: this.timeoutMs,
      applySetting: (c, o) => this.applySetting(c, o),
      lockLoginuid: () => this.setFeature('LOGINUID_IMMUTABLE', true, { lock: true }),
      resetLost: () => this.resetLost(),
      isLocked: async () => (await this.getStatus()).enabled === 2,
    };
  }

  private async applySetting(c: Extract<RuleCommand, { kind: 'set' }>, options: LoadOptions): Promise<void> {
    switch (c.setting) {
      case 'enabled':
        return this.setEnabled(c.value as 0 | 1 | 2, { dangerouslyLockUntilReboot: options.dangerouslyLockUntilReboot });
      case 'failure':
        return this.setFailure(c.value as 0 | 1 | 2, { dangerouslyPanicOnFailure: options.dangerouslyPanicOnFailure });
      case 'backlogLimit':
        return this.setBacklogLimit(c.value);
      case 'rateLimit':
        return this.setRateLimit(c.value);
      case 'backlogWaitTime':
        return this.setBacklogWaitTime(c.value);
    }
  }

  /**
   * @internal Send a request and do not wait for the answer: for process exit,
   * when there is no event loop left to wait on. Errors are ignored.
   */
  sendNow(type: number, payload: Uint8Array): void {
    void this.channel.request(type, payload, { noAck: true }).catch(() => undefined);
  }

  /** See AuditChannel.setFarewell: what to undo if this thread is torn down with the client open. */
  setFarewell(requests: Array<{ type: number; payload: Uint8Array }>, fileToRemove?: string): void {
    this.channel.setFarewell(requests, fileToRemove);
  }

  close(): void {
    this.channel.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private async set(mask: number, values: Partial<Record<StatusField, number>>): Promise<void> {
    await this.channel.request(MSG.SET, encodeStatus(mask, values), { timeoutMs: this.timeoutMs });
  }
}
