/**
 * Pull-level conformance: a connector's batches committed through the ingestion core with their cursor.
 * Run through the same factory as the connector-level cases.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runPull } from '../../jobs/run-pull';
import { getRun } from '../../src/store/connector-runs';
import { getConnectorState } from '../../src/store/connector-state';
import { newRun, saveConnector } from '../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { waitFor } from '../helpers/worker-process';
import type { SourceContext } from './connector-conformance';
import type { RowValues } from './conformance-source';

const CHILD = fileURLToPath(new URL('./pull-child.ts', import.meta.url));
const ROWS = 10_000;

export function pullLevelCases(ctx: SourceContext): void {
  describe('pull (through the ingestion core)', () => {
    let platform: TestDatabase;
    const table = `pulled_${Date.now().toString(36)}`;
    beforeAll(async () => {
      platform = await freshDatabase();
      const source = ctx.source();
      await source.createTable({
        name: table,
        columns: [
          { name: 'id', type: 'bigint' },
          { name: 'name', type: 'text' },
          { name: 'updated_at', type: 'timestamp', nullable: true },
        ],
        primaryKey: ['id'],
        indexes: [['updated_at', 'id']],
      });
      // Thousands of rows share one cursor value: batches end in the middle of a run of equal values.
      const rows: RowValues[] = [];
      for (let i = 1; i <= ROWS; i++)
        rows.push({ id: i, name: `row ${i}`, updated_at: `2026-01-0${1 + (i % 3 === 0 ? 1 : 0)}T00:00:00.000001Z` });
      await source.insert(table, rows);
    });
    afterAll(() => platform?.drop());

    const connectorFor = (vertical: string, batch: number, cursor: Record<string, unknown> = { column: 'updated_at', lag_seconds: 0 }) => {
      const { connector_type, connection_config, ...settings } = ctx
        .source()
        .definition({ table: ctx.source().tableRef(table), cursor, batch_size: batch });
      return saveConnector(platform.pool, 'conformance', {
        vertical,
        connector_type: connector_type as string,
        connection_config: connection_config as Record<string, unknown>,
        settings,
      });
    };
    const entities = async (vertical: string) =>
      (
        await platform.pool.query(
          'select count(*)::int as n, count(distinct source_id)::int as d, min(source_id::bigint)::int as lo, max(source_id::bigint)::int as hi from entities where vertical = $1',
          [vertical],
        )
      ).rows[0];

    /** Pulls with connector `id`, kills the pull once batches are committed, pulls again: the entities are exactly the rows. */
    async function killedAndResumed(vertical: string, id: string): Promise<void> {
      const { runId } = await newRun(platform.pool, id);
      const start = () => {
        const child = spawn(process.execPath, ['--import', 'tsx', CHILD, platform.url, id, runId, 'incremental'], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: process.env,
        });
        let out = '';
        child.stdout.on('data', (c) => (out += c));
        child.stderr.on('data', (c) => (out += c));
        const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
          child.on('close', (code, signal) => r({ code, signal })),
        );
        return { child, exited, output: () => out };
      };
      const first = start();
      await waitFor(
        'batches committed',
        async () => {
          if (first.child.exitCode !== null) throw new Error(`the pull exited before it could be killed: ${first.output()}`);
          return (await entities(vertical)).n >= 700;
        },
        180_000,
        20,
      );
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      const partial = await entities(vertical);
      expect(partial.n).toBeLessThan(ROWS);
      const committed = await getConnectorState(platform.pool, id);
      expect(committed.cursor).not.toBeNull();

      const second = start();
      const done = await second.exited;
      expect(done.code, second.output()).toBe(0);
      expect(await entities(vertical)).toEqual({ n: ROWS, d: ROWS, lo: 1, hi: ROWS });
      const run = (await getRun(platform.pool, runId))!;
      expect(run.rows_read).toBe(ROWS); // rows read and committed: the batch in flight at the kill was rolled back, not counted
    }

    test('the pull killed with SIGKILL mid-run and restarted ends with exactly the source rows', async () => {
      await killedAndResumed('killed', await connectorFor('killed', 7));
    });

    test('the same with the key as the cursor (an auto-increment id)', async () => {
      await killedAndResumed('killed_serial', await connectorFor('killed_serial', 7, { column: 'id' }));
    });

    test('a full resync reads every row again and creates no duplicate entity', async () => {
      const id = await connectorFor('resync', 1000);
      for (const mode of ['incremental', 'full'] as const) {
        const { connector, runId } = await newRun(platform.pool, id, mode);
        await runPull({ pool: platform.pool, connector, runId, mode, signal: new AbortController().signal });
        const run = (await getRun(platform.pool, runId))!;
        expect(run).toMatchObject(
          mode === 'full' ? { rows_read: ROWS, inserted: 0, unchanged: ROWS } : { rows_read: ROWS, inserted: ROWS },
        );
      }
      expect(await entities('resync')).toEqual({ n: ROWS, d: ROWS, lo: 1, hi: ROWS });
    });
  });
}
