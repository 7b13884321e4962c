import { describe, expect, test } from 'vitest';
import { validateConnectorConfig } from '../../../connectors/connector-config';
import type { SourceConnector } from '../../../connectors/contract';
import { COUNT_CAP, diagnose } from '../../../connectors/doctor';
import type { DoctorProbes } from '../../../connectors/contract';

/** The doctor's verdict logic on measurements given directly: budgets, caps, and checks that do not apply. */

const NOW = '2026-01-31T12:00:00.000000Z';
const definition = validateConnectorConfig({
  connector_type: 'postgresql',
  connection_config: { dsn: 'postgresql://u@127.0.0.1/x' },
  table: 'items',
  cursor: { column: 'updated_at' },
  batch_size: 100,
});

const temporal = { name: 'updated_at', type: 'timestamp with time zone', temporal: true, nullable: true };

function probes(overrides: Partial<DoctorProbes> = {}): DoctorProbes {
  return {
    shape: { cursor: temporal, order: ['updated_at', 'id'], table: 'items', label: 'table "items"' },
    orderIndex: async () => ({ index: 'items_order', create: 'CREATE INDEX …' }),
    largestRun: async () => ({ value: '2026-01-01T00:00:00.000000Z', rows: 3 }),
    nullCursors: async () => 0,
    futureCursors: async () => ({ rows: 0, latest: null }),
    heldBack: async () => ({ rows: 0, first: null }),
    privileges: async () => ({ known: true, role: 'role "reader"', writes: [], fix: '' }),
    estimate: async () => ({ rows: 1000, basis: 'an estimate' }),
    ...overrides,
  };
}

/** A source that answers only what the doctor asks of it. */
function source(p: DoctorProbes): SourceConnector {
  return {
    check: async () => {},
    describe: async () => ({ name: 'items', columns: [], primaryKey: ['id'] }),
    clock: async () => NOW,
    read: () => ({ [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) }),
    doctor: async () => p,
    close: async () => {},
  };
}

const run = (p: DoctorProbes, checkSeconds = 5) =>
  diagnose(source(p), { definition, cursor: null, lastPull: null, rowsPerSecond: null, checkSeconds });

describe('doctor verdicts', () => {
  test('a check that does not answer within its budget is skipped as timed out; the others still run', async () => {
    const started = Date.now();
    const report = await run(probes({ largestRun: () => new Promise(() => {}), nullCursors: () => new Promise(() => {}) }), 0.05);
    expect(Date.now() - started).toBeLessThan(2_000);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName.equal_cursor_run).toMatchObject({ verdict: 'skipped', detail: 'timed out after 0.05 s', fix: null });
    expect(byName.null_cursors).toMatchObject({ verdict: 'skipped', detail: 'timed out after 0.05 s' });
    expect(byName.resync_estimate?.verdict).toBe('ok');
    expect(report.verdict).toBe('ok');
  });

  test('counts at the cap say "at least"', async () => {
    const report = await run(probes({ nullCursors: async () => COUNT_CAP }));
    expect(report.checks.find((c) => c.name === 'null_cursors')?.detail).toMatch(new RegExp(`^at least ${COUNT_CAP} rows`));
  });

  test('a cursor that is not a point in time: no clock skew and no lag window to check', async () => {
    const report = await run(probes({ shape: { ...probes().shape, cursor: { ...temporal, type: 'bigint', temporal: false } } }));
    for (const name of ['future_cursors', 'held_back']) {
      const c = report.checks.find((check) => check.name === name)!;
      expect(c.verdict).toBe('skipped');
      expect(c.detail).toContain('"updated_at" is bigint');
    }
  });

  test('no cursor column: only privileges and the resync estimate apply', async () => {
    const report = await run(probes({ shape: { cursor: null, order: null, table: 'items', label: 'table "items"' } }));
    expect(report.checks.filter((c) => c.verdict !== 'skipped').map((c) => c.name)).toEqual(['privileges', 'resync_estimate']);
  });

  test('a failed check fails the report; warnings alone warn', async () => {
    expect((await run(probes({ shape: { ...probes().shape, order: null } }))).verdict).toBe('fail');
    expect((await run(probes({ heldBack: async () => ({ rows: 4, first: NOW }) }))).verdict).toBe('warn');
  });
});
