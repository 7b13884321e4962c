import { describe, expect, test } from 'vitest';
import { summary } from '../../../src/cli/pull-command';

const run = {
  id: 'r',
  status: 'succeeded',
  mode: 'sweep',
  trigger: 'manual',
  attempts: 1,
  rows_read: 990,
  inserted: 0,
  updated: 0,
  unchanged: 0,
  rejected: 0,
  deleted: 10,
  undeleted: 0,
  error: null,
  started_at: null,
  finished_at: null,
  duration_ms: 1500,
  cursor_after: null,
};

describe('pull --wait summary', () => {
  test('a sweep shows what it deleted', () => {
    expect(summary(run)).toBe('succeeded: 990 rows read, 0 inserted, 0 updated, 0 unchanged, 0 rejected, 10 deleted, 0 undeleted in 1.5s');
  });

  test('a verify shows its counts and sample keys', () => {
    const verify = { checked: 100, missing: 1, extra: 0, stale: 25, samples: { missing: ['7'], extra: [], stale: ['1', '2'] } };
    expect(summary({ ...run, mode: 'verify', deleted: 0, verify }).split('\n')).toEqual([
      'succeeded: 100 rows checked, 1 missing, 0 extra, 25 stale in 1.5s',
      '  missing: 7',
      '  stale: 1, 2, …',
    ]);
  });

  test('a held sweep says what it waits for', () => {
    const held = { ...run, status: 'needs_confirmation', deleted: 0, error: 'the sweep would delete 60 of 100 entities' };
    expect(summary(held)).toContain('held: the sweep would delete 60 of 100 entities');
  });
});
