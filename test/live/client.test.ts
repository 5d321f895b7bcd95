import { afterAll, beforeAll, expect, it } from 'vitest';
import { AuditClient } from '../../lib/client/client.js';
import { RECORD_TYPES, subscribe } from '../../lib/index.js';
import { describeLive, kernelSnapshot, restoreKernel, type KernelSnapshot } from '../helpers/live.js';

describeLive('AuditClient on the real kernel', () => {
  let before: KernelSnapshot;
  let client: AuditClient;

  beforeAll(async () => {
    before = await kernelSnapshot();
    client = await AuditClient.open();
  });

  afterAll(async () => {
    client?.close();
    await restoreKernel(before);
  });

  it('reads the whole status, including the backlog wait fields of current kernels', async () => {
    const s = await client.getStatus();
    expect(s.mask).toBe(0);
    expect([0, 1]).toContain(s.enabled);
    expect(s.backlogLimit).toBeGreaterThan(0);
    expect(s.backlogWaitTime).toBeTypeOf('number');
    expect(s.backlogWaitTimeActual).toBeTypeOf('number');
  });

  it('sets and restores backlog limit, wait time, rate limit and failure, as auditctl -s sees them', async () => {
    const s = await client.getStatus();
    await client.setBacklogLimit(s.backlogLimit + 7);
    await client.setBacklogWaitTime(1234);
    await client.setRateLimit(4321);
    await client.setFailure(0);
    const changed = await client.getStatus();
    expect([changed.backlogLimit, changed.backlogWaitTime, changed.rateLimit, changed.failure]).toEqual([s.backlogLimit + 7, 1234, 4321, 0]);
    const { execFileSync } = await import('node:child_process');
    const text = execFileSync('auditctl', ['-s'], { encoding: 'utf8' });
    expect(text).toMatch(new RegExp(`backlog_limit ${s.backlogLimit + 7}\\b`));
    expect(text).toMatch(/rate_limit 4321\b/);
    await restoreKernel(before);
    const restored = await client.getStatus();
    expect([restored.backlogLimit, restored.backlogWaitTime, restored.rateLimit, restored.failure]).toEqual([s.backlogLimit, s.backlogWaitTime, s.rateLimit, s.failure]);
  });

  it('reads the features, and turns loginuid_immutable on and off again', async () => {
    const f = await client.getFeatures();
    expect(f.version).toBe(1);
    const bit = 1 << 1;
    const wasOn = (f.features & bit) !== 0;
    if ((f.lock & bit) !== 0) return; // locked by the host: nothing we may change
    await client.setFeature('LOGINUID_IMMUTABLE', !wasOn);
    expect(((await client.getFeatures()).features & bit) !== 0).toBe(!wasOn);
    await client.setFeature('LOGINUID_IMMUTABLE', wasOn);
    expect(((await client.getFeatures()).features & bit) !== 0).toBe(wasOn);
  });

  it('sends a user message that a subscriber receives as an event of its own', async () => {
    const sub = subscribe({ mode: 'unicast', enable: true });
    await sub.ready;
    const text = `linux-audit live test ${process.pid} "quoted" ünï`;
    await client.sendUserMessage(RECORD_TYPES.TRUSTED_APP, text);
    let found: string | undefined;
    const timer = setTimeout(() => void sub.close(), 5000);
    for await (const ev of sub) {
      const r = ev.records[0];
      if (r.type === RECORD_TYPES.TRUSTED_APP && r.text.includes(`${process.pid}`)) {
        found = r.fields.msg;
        expect(ev.records).toHaveLength(1);
        break;
      }
    }
    clearTimeout(timer);
    expect(found).toBe(text);
  });

  it('refuses a control request it lacks the right for with a coded error', async () => {
    // Unregistering another process's daemon is refused; with none registered this is a no-op.
    const s = await client.getStatus();
    expect(s.pid).toBe(0);
    await expect(client.setPid(process.pid + 1)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'AUDIT_SET', errno: -22 });
  });
});
