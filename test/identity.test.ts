// The cache in front of the system's user and group lookups (lib/identity/system.ts):
// the lookup is given by the test, so what is asked, when and how often is seen.
import { describe, expect, it } from 'vitest';
import { SystemNames } from '../lib/identity/system.js';
import type { IdKind } from '../lib/identity/files.js';

function fakeSystem(known: Record<string, string>) {
  const asked: string[] = [];
  const pending: Array<() => void> = [];
  const lookup = (kind: IdKind, id: number, cb: (err: Error | null, name: string | null) => void): void => {
    asked.push(`${kind}:${id}`);
    pending.push(() => (id === 666 ? cb(new Error('ldap down'), null) : cb(null, known[`${kind}:${id}`] ?? null)));
  };
  /** Let the oldest lookup answer. */
  const answer = (): void => pending.shift()!();
  return { asked, pending, lookup, answer };
}

describe('SystemNames', () => {
  it('answers from its cache, asks once per id, one at a time, and says when a name arrived', () => {
    const sys = fakeSystem({ 'passwd:1500': 'alice', 'group:1500': 'staff' });
    const names = new SystemNames(sys.lookup);
    expect(names.nameOf('passwd', 1500, 0)).toBeUndefined(); // being asked
    expect(names.nameOf('passwd', 1500, 0)).toBeUndefined();
    expect(names.nameOf('group', 1500, 0)).toBeUndefined();
    expect(sys.asked).toEqual(['passwd:1500']); // one in flight; the group waits its turn
    expect(names.takeFresh('passwd')).toBe(false);
    sys.answer();
    expect(names.takeFresh('passwd')).toBe(true);
    expect(names.takeFresh('passwd')).toBe(false);
    expect(names.nameOf('passwd', 1500, 1)).toBe('alice');
    expect(sys.asked).toEqual(['passwd:1500', 'group:1500']);
    sys.answer();
    expect(names.nameOf('group', 1500, 1)).toBe('staff');
    expect(sys.asked).toHaveLength(2);
  });

  it('remembers misses for less time than names; a failed lookup is counted and asked again', () => {
    const sys = fakeSystem({ 'passwd:1500': 'alice' });
    const names = new SystemNames(sys.lookup, { hitTtlMs: 1000, missTtlMs: 100 });
    const now = Date.now();
    names.nameOf('passwd', 1500, now);
    sys.answer();
    names.nameOf('passwd', 1600, now);
    sys.answer();
    expect(names.nameOf('passwd', 1600, now + 50)).toBeNull();
    expect(names.nameOf('passwd', 1500, now + 500)).toBe('alice');
    expect(sys.asked).toEqual(['passwd:1500', 'passwd:1600']);
    // Past its time a miss is asked again; the old answer serves meanwhile.
    expect(names.nameOf('passwd', 1600, now + 200)).toBeNull();
    expect(sys.asked).toHaveLength(3);
    sys.answer();
    names.nameOf('passwd', 666, now);
    sys.answer();
    expect(names.counts.failures).toBe(1);
    expect(names.nameOf('passwd', 666, now)).toBeUndefined();
    expect(sys.asked.filter((a) => a === 'passwd:666')).toHaveLength(2);
  });

  it('holds a bounded queue: ids beyond it are not asked, and counted', () => {
    const sys = fakeSystem({});
    const names = new SystemNames(sys.lookup, { maxQueued: 2 });
    for (const id of [1, 2, 3, 4]) names.nameOf('passwd', id, 0);
    // 1 is in flight, 2 and 3 wait, 4 is not asked.
    expect(sys.asked).toEqual(['passwd:1']);
    expect(names.counts.notAsked).toBe(1);
    sys.answer();
    sys.answer();
    sys.answer();
    expect(sys.asked).toEqual(['passwd:1', 'passwd:2', 'passwd:3']);
    expect(sys.pending).toHaveLength(0);
  });
});
