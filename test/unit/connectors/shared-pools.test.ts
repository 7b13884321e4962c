import { afterEach, describe, expect, test, vi } from 'vitest';
import { SharedPools } from '../../../connectors/shared-pools';

interface FakePool {
  id: number;
  ended: boolean;
}

let made = 0;
const create = (): FakePool => ({ id: ++made, ended: false });
const pools = (o: Partial<{ idleMs: number; maxAgeMs: number; maxIdle: number }> = {}) =>
  new SharedPools<FakePool>(
    async (p) => {
      p.ended = true;
    },
    { idleMs: 60_000, maxAgeMs: 600_000, maxIdle: 100, ...o },
  );

afterEach(() => vi.useRealTimers());

describe('pools kept across runs', () => {
  test('the same settings get the same pool, run after run; other settings (another address, other credentials) another', () => {
    const shared = pools();
    const a = shared.acquire({ dsn: 'postgres://u:p@db/x', reach: ['10.0.0.1'] }, create);
    a.release();
    const b = shared.acquire({ dsn: 'postgres://u:p@db/x', reach: ['10.0.0.1'] }, create);
    expect(b.pool).toBe(a.pool);
    const moved = shared.acquire({ dsn: 'postgres://u:p@db/x', reach: ['10.0.0.2'] }, create);
    const otherUser = shared.acquire({ dsn: 'postgres://v:p@db/x', reach: ['10.0.0.1'] }, create);
    expect(new Set([b.pool, moved.pool, otherUser.pool]).size).toBe(3);
    expect(shared.size).toBe(3);
  });

  test('a pool unused for idleMs is closed; one in use is not, however long the run', () => {
    vi.useFakeTimers();
    const shared = pools({ idleMs: 1_000 });
    const idle = shared.acquire('idle', create);
    idle.release();
    const busy = shared.acquire('busy', create);
    vi.advanceTimersByTime(5_000);
    expect(idle.pool.ended).toBe(true);
    expect(busy.pool.ended).toBe(false);
    busy.release();
    vi.advanceTimersByTime(5_000);
    expect(busy.pool.ended).toBe(true);
    expect(shared.size).toBe(0);
  });

  test('a pool older than maxAgeMs takes no new run and closes when its last run hands it back', () => {
    vi.useFakeTimers();
    const shared = pools({ maxAgeMs: 1_000 });
    const old = shared.acquire('k', create);
    vi.advanceTimersByTime(1_500);
    const fresh = shared.acquire('k', create);
    expect(fresh.pool).not.toBe(old.pool);
    expect(old.pool.ended).toBe(false);
    old.release();
    old.release(); // a second release changes nothing
    expect(old.pool.ended).toBe(true);
    expect(fresh.pool.ended).toBe(false);
  });

  test('at most maxIdle unused pools are kept: the least recently used go first', () => {
    vi.useFakeTimers();
    const shared = pools({ maxIdle: 2 });
    const leases = ['a', 'b', 'c', 'd'].map((k) => {
      vi.advanceTimersByTime(10);
      const l = shared.acquire(k, create);
      l.release();
      return l;
    });
    vi.advanceTimersByTime(30_000);
    expect(leases.map((l) => l.pool.ended)).toEqual([true, true, false, false]);
  });

  test('close() ends idle pools at once and leased ones when they are handed back', async () => {
    const shared = pools();
    const idle = shared.acquire('a', create);
    idle.release();
    const leased = shared.acquire('b', create);
    await shared.close();
    expect(idle.pool.ended).toBe(true);
    expect(leased.pool.ended).toBe(false);
    leased.release();
    expect(leased.pool.ended).toBe(true);
  });
});
