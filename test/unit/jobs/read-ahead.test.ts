import { describe, expect, test } from 'vitest';
import { readAhead } from '../../../jobs/read-ahead';

/** A source of `n` items that logs when each read starts and ends, and whether it was ended early. */
function source(n: number, events: string[], failAt?: number) {
  return {
    async *[Symbol.asyncIterator]() {
      try {
        for (let i = 0; i < n; i++) {
          events.push(`read ${i} start`);
          await new Promise((r) => setTimeout(r, 5));
          if (i === failAt) throw new Error(`read ${i} failed`);
          events.push(`read ${i} end`);
          yield i;
        }
      } finally {
        events.push('source closed');
      }
    },
  };
}

/** Where `event` happened; an event that never happened fails here, so an order check cannot pass on its absence. */
function at(events: string[], event: string): number {
  expect(events).toContain(event);
  return events.indexOf(event);
}

describe('readAhead', () => {
  test('the next read starts before the consumer has finished with the current item', async () => {
    const events: string[] = [];
    const seen: number[] = [];
    for await (const i of readAhead(source(3, events))) {
      events.push(`commit ${i} start`);
      await new Promise((r) => setTimeout(r, 20));
      events.push(`commit ${i} end`);
      seen.push(i);
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(at(events, 'read 1 start')).toBeLessThan(at(events, 'commit 0 end'));
    expect(at(events, 'read 1 end')).toBeLessThan(at(events, 'commit 0 end'));
    expect(events.at(-1)).toBe('commit 2 end');
    expect(events).toContain('source closed');
  });

  test('stopping early lets the read in flight finish, then closes the source; nothing more is read', async () => {
    const events: string[] = [];
    for await (const i of readAhead(source(10, events))) {
      if (i === 1) break;
    }
    expect(events.filter((e) => e.endsWith('start'))).toEqual(['read 0 start', 'read 1 start', 'read 2 start']);
    expect(events.at(-1)).toBe('source closed');
    expect(at(events, 'read 2 end')).toBeLessThan(at(events, 'source closed'));
  });

  test('a failed read surfaces after the item before it was handled', async () => {
    const events: string[] = [];
    const handled: number[] = [];
    await expect(
      (async () => {
        for await (const i of readAhead(source(5, events, 2))) handled.push(i);
      })(),
    ).rejects.toThrow('read 2 failed');
    expect(handled).toEqual([0, 1]);
    expect(events.at(-1)).toBe('source closed');
  });
});
