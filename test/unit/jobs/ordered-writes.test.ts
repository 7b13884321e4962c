import { describe, expect, test } from 'vitest';
import { PreviousBatchNotCommitted, writeInOrder, type OrderedWrites } from '../../../jobs/ordered-writes';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function* batches(n: number, readMs = 1): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    await sleep(readMs);
    yield i;
  }
}

/**
 * Batch writes as a database runs them: each takes `ms[b]` (default 5), may fail, and a write given the batch
 * before it commits only once that one's attempt has ended, and throws PreviousBatchNotCommitted when it rolled back.
 * A write given no predecessor commits as soon as it is done, so a scheduler that wrongly omits one commits out of order.
 */
function database(o: { ms?: Record<number, number>; fail?: Record<number, Error>; failOnce?: number[] } = {}) {
  const commits: number[] = [];
  const events: string[] = [];
  const attempts = new Map<number, Promise<boolean>>();
  const failOnce = new Set(o.failOnce ?? []);
  let inFlight = 0;
  let maxInFlight = 0;
  const write = (b: number, previous: number | null): Promise<void> => {
    const attempt = (async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      events.push(`write ${b}${previous === null ? '' : ` after ${previous}`}`);
      try {
        await sleep(o.ms?.[b] ?? 5);
        if (o.fail?.[b]) throw o.fail[b];
        if (failOnce.delete(b)) throw new Error(`batch ${b}: deadlock, rolled back`);
        if (previous !== null && !(await attempts.get(previous)!)) throw new PreviousBatchNotCommitted();
        commits.push(b);
      } finally {
        inFlight--;
      }
    })();
    attempts.set(
      b,
      attempt.then(
        () => true,
        () => false,
      ),
    );
    return attempt;
  };
  return {
    commits,
    events,
    write,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

function writes(
  db: ReturnType<typeof database>,
  over: Partial<OrderedWrites<number>> = {},
): OrderedWrites<number> & { reported: number[] } {
  const reported: number[] = [];
  return {
    reported,
    mayFollow: () => true,
    write: db.write,
    committed: (b) => {
      reported.push(b);
      return false;
    },
    ...over,
  };
}

describe('writeInOrder', () => {
  test('two batches are written at once and commit in read order, whichever write finishes first', async () => {
    const db = database({ ms: { 0: 5, 1: 40, 2: 5, 3: 30, 4: 1, 5: 20 } });
    const o = writes(db);
    expect(await writeInOrder(batches(8), o)).toBe('done');
    expect(db.commits).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(o.reported).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(db.maxInFlight).toBe(2);
    expect(db.events).toContain('write 2 after 1');
  });

  test('a batch that may not follow the one in flight is written only once that one has committed', async () => {
    const db = database({ ms: { 1: 30 } });
    const o = writes(db, { mayFollow: (_prev, next) => next !== 2 });
    expect(await writeInOrder(batches(4), o)).toBe('done');
    expect(db.commits).toEqual([0, 1, 2, 3]);
    expect(db.events).toContain('write 2'); // written alone, after 1 committed
    expect(db.events.indexOf('write 2')).toBeGreaterThan(db.events.indexOf('write 1 after 0'));
  });

  test('a batch whose predecessor rolled back and then committed on its own retry is written again after it', async () => {
    // Batch 1's first attempt is a deadlock victim, retried inside its write as a retried transaction is; batch 2 saw it roll back.
    const db = database({ ms: { 1: 20, 2: 1 }, failOnce: [1] });
    const o = writes(db, {
      write: async (b, previous) => {
        try {
          return await db.write(b, previous);
        } catch (err) {
          if (err instanceof PreviousBatchNotCommitted || b !== 1) throw err;
          return db.write(b, previous);
        }
      },
    });
    expect(await writeInOrder(batches(4), o)).toBe('done');
    expect(db.commits).toEqual([0, 1, 2, 3]);
    expect(db.events.slice(0, 5)).toEqual(['write 0', 'write 1 after 0', 'write 2 after 1', 'write 1 after 0', 'write 2']);
  });

  test('when a batch fails for good, the one written beside it rolls back, nothing later starts, and the failure is the result', async () => {
    const boom = new Error('batch 2: constraint violated');
    const db = database({ ms: { 2: 30 }, fail: { 2: boom } });
    const o = writes(db);
    await expect(writeInOrder(batches(8), o)).rejects.toBe(boom);
    expect(db.commits).toEqual([0, 1]);
    expect(o.reported).toEqual([0, 1]);
    expect(db.inFlight).toBe(0); // nothing is still writing when the failure is handed back
    expect(db.events.some((e) => /^write [4-7]/.test(e))).toBe(false);
  });

  test('a batch that failed before the next one was read fails the whole at once: the next one is never written', async () => {
    const boom = new Error('batch 0 failed');
    const db = database({ ms: { 0: 1 }, fail: { 0: boom } });
    const o = writes(db);
    await expect(writeInOrder(batches(3, 30), o)).rejects.toBe(boom);
    expect(db.commits).toEqual([]);
    expect(db.events).toEqual(['write 0']);
  });

  test('asked to stop, it lets the batch already being written commit and starts no other', async () => {
    const db = database({ ms: { 3: 30 } });
    const o = writes(db, { committed: (b) => b === 2 });
    expect(await writeInOrder(batches(10), o)).toBe('stopped');
    const last = db.commits.at(-1)!;
    expect(db.commits).toEqual(Array.from({ length: last + 1 }, (_, i) => i));
    expect(last).toBeLessThanOrEqual(3);
    expect(db.events.some((e) => /^write [4-9]/.test(e))).toBe(false);
    expect(db.inFlight).toBe(0);
  });

  test('asked to stop by a batch that committed alone, it writes nothing more', async () => {
    const db = database();
    const o = writes(db, { committed: (b) => b === 0 });
    expect(await writeInOrder(batches(5, 20), o)).toBe('stopped');
    expect(db.commits).toEqual([0]);
    expect(db.events).toEqual(['write 0']);
  });
});
