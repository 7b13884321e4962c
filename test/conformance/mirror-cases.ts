/**
 * Mirror-over-time conformance: deletes at the source reach the entities (key sweeps, a soft-delete column), the
 * guard holds a sweep that would delete too much, and a verify run finds drift. Run through the same factory as the
 * connector-level cases, against the real source and platform database.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runPull, type PullOutcome } from '../../jobs/run-pull';
import { confirmRun, getRun, type RunMode } from '../../src/store/connector-runs';
import { loadConnectorForRun } from '../../src/store/connectors';
import { newRun, saveConnector, testBox } from '../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { waitFor } from '../helpers/worker-process';
import type { SourceContext } from './connector-conformance';
import type { ConformanceCapabilities, RowValues } from './conformance-source';

const CHILD = fileURLToPath(new URL('./pull-child.ts', import.meta.url));
const never = new AbortController().signal;

/** Rows in groups of `group` sharing one cursor value, so sweeps and pulls page through runs of equal values. */
function rowsOf(from: number, to: number, group = 50, extra: (i: number) => RowValues = () => ({})): RowValues[] {
  const rows: RowValues[] = [];
  for (let i = from; i <= to; i++) {
    const minute = String(Math.floor(i / group) % 60).padStart(2, '0');
    const hour = String(Math.floor(i / group / 60)).padStart(2, '0');
    rows.push({ id: i, name: `row ${i}`, updated_at: `2026-01-01T${hour}:${minute}:00.000001Z`, region: i % 2 ? 'eu' : 'us', ...extra(i) });
  }
  return rows;
}

/** 137 keys: the first, the last, and 135 between them, most inside runs of equal cursor values. */
function doomed(n: number): number[] {
  const ids = [1, n];
  for (let i = 3; ids.length < 137; i += 4) ids.push(i);
  return ids.sort((a, b) => a - b);
}

export function mirrorCases(ctx: SourceContext, capabilities: ConformanceCapabilities): void {
  describe('mirror over time (deletes, guard, verify)', () => {
    let platform: TestDatabase;
    beforeAll(async () => {
      platform = await freshDatabase();
    });
    afterAll(() => platform?.drop());

    let tables = 0;
    const newTable = async (rows: RowValues[], extra: Array<{ name: string; nullable: boolean }> = []) => {
      const name = `mirror_${Date.now().toString(36)}_${tables++}`;
      await ctx.source().createTable({
        name,
        columns: [
          { name: 'id', type: 'bigint' },
          { name: 'name', type: 'text' },
          { name: 'updated_at', type: 'timestamp', nullable: true },
          { name: 'region', type: 'text' },
          ...extra.map((c) => ({ name: c.name, type: 'timestamp' as const, nullable: c.nullable })),
        ],
        primaryKey: ['id'],
        indexes: [['updated_at', 'id']],
      });
      await ctx.source().insert(name, rows);
      return name;
    };
    const connectorFor = (vertical: string, table: string, settings: Record<string, unknown>) => {
      const { connector_type, connection_config, ...rest } = ctx.source().definition({
        table: ctx.source().tableRef(table),
        cursor: { column: 'updated_at', lag_seconds: 0 },
        batch_size: 50,
        ...settings,
      });
      return saveConnector(platform.pool, 'mirror', {
        vertical,
        connector_type: connector_type as string,
        connection_config: connection_config as Record<string, unknown>,
        settings: rest,
      });
    };
    const run = async (id: string, mode: RunMode) => {
      const { connector, runId } = await newRun(platform.pool, id, mode);
      const outcome = await runPull({ pool: platform.pool, connector, runId, mode, signal: never });
      return { outcome, runId, run: (await getRun(platform.pool, runId))! };
    };
    const entities = async (vertical: string) => {
      const { rows } = await platform.pool.query<{ id: number; deleted: boolean }>(
        "select source_id::bigint::int as id, deleted_at is not null as deleted from entities where vertical = $1 and source_id ~ '^[0-9]+$' order by 1",
        [vertical],
      );
      return { live: rows.filter((r) => !r.deleted).map((r) => r.id), deleted: rows.filter((r) => r.deleted).map((r) => r.id) };
    };
    const setDeletes = (id: string, deletes: Record<string, unknown>) =>
      platform.pool.query("update connectors set settings = settings || jsonb_build_object('deletes', $2::jsonb) where id = $1", [
        id,
        JSON.stringify(deletes),
      ]);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

    test('137 rows deleted at the source (first, last, inside runs of equal cursor values): soft, back again, then hard by a full resync', async () => {
      const n = 600;
      const table = await newTable(rowsOf(1, n));
      const id = await connectorFor('deletes', table, { deletes: { mode: 'soft' } });
      expect((await run(id, 'incremental')).run).toMatchObject({ rows_read: n, inserted: n });
      const gone = doomed(n);
      await ctx.source().remove(table, 'id', gone);

      const soft = await run(id, 'sweep');
      expect(soft.run).toMatchObject({ mode: 'sweep', rows_read: n - 137, deleted: 137, inserted: 0 });
      const afterSoft = await entities('deletes');
      expect(afterSoft.deleted).toEqual(gone);
      expect(afterSoft.live).toEqual(range(1, n).filter((i) => !gone.includes(i)));
      // A second sweep finds nothing more to mark.
      expect((await run(id, 'sweep')).run.deleted).toBe(0);

      // A deleted row comes back at the source: the next pull undeletes its entity.
      await ctx.source().insert(table, [{ id: gone[5], name: 'back', updated_at: '2026-03-01T00:00:00.000001Z', region: 'eu' }]);
      expect((await run(id, 'incremental')).run).toMatchObject({ rows_read: 1, undeleted: 1, updated: 1 });
      expect((await entities('deletes')).deleted).toEqual(gone.filter((g) => g !== gone[5]));

      // Hard: a full resync ends with a sweep that deletes the 136 entities whose rows are gone, marked ones included.
      await setDeletes(id, { mode: 'hard' });
      const hard = await run(id, 'full');
      expect(hard.run).toMatchObject({ mode: 'full', deleted: 136, inserted: 0 });
      const afterHard = await entities('deletes');
      expect(afterHard.deleted).toEqual([]);
      expect(afterHard.live).toEqual(range(1, n).filter((i) => i === gone[5] || !gone.includes(i)));
    });

    test('a soft-delete column: a row the source marks deleted deletes its entity when read, and a sweep counts it as gone', async () => {
      const n = 200;
      const table = await newTable(rowsOf(1, n), [{ name: 'deleted_at', nullable: true }]);
      const id = await connectorFor('marked', table, { deletes: { mode: 'hard', column: 'deleted_at' } });
      expect((await run(id, 'incremental')).run).toMatchObject({ inserted: n, deleted: 0 });
      for (const row of [1, 77, n])
        await ctx
          .source()
          .update(table, { id: row }, { deleted_at: '2026-02-01T00:00:00.000001Z', updated_at: '2026-02-01T00:00:00.000001Z' });
      expect((await run(id, 'incremental')).run).toMatchObject({ rows_read: 3, deleted: 3, inserted: 0, updated: 0 });
      expect((await entities('marked')).live).toEqual(range(2, n - 1).filter((i) => i !== 77));
      // An entity whose row is marked while the pull did not see it (written back by hand here) is swept.
      await platform.pool.query(
        "insert into entities (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash, connector_id) select tenant_id, vertical, entity_type, 'x', '77', 's:77', '{}', 'x', connector_id from entities where vertical = 'marked' limit 1",
      );
      expect((await run(id, 'sweep')).run.deleted).toBe(1);
      expect((await entities('marked')).live).not.toContain(77);
    });

    test("a sweep scoped by the connector's where: rows outside it, and another connector's entities, are never touched", async () => {
      const n = 200;
      const table = await newTable(rowsOf(1, n));
      const eu = await connectorFor('scoped', table, { where: ctx.source().whereEquals('region', 'eu'), deletes: { mode: 'hard' } });
      await run(eu, 'incremental');
      expect((await entities('scoped')).live).toEqual(range(1, n).filter((i) => i % 2 === 1));
      // Pushed-like entities of the same target with no owner, and rows of the other region deleted at the source.
      await platform.pool.query(
        "insert into entities (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash) select tenant_id, vertical, entity_type, 'pushed', 'p-1', 's:p-1', '{}', 'x' from entities where vertical = 'scoped' limit 1",
      );
      await ctx.source().remove(table, 'id', [2, 4, 6, 3, 5]);
      expect((await run(eu, 'sweep')).run).toMatchObject({ deleted: 2, rows_read: n / 2 - 2 });
      const left = await platform.pool.query<{ source_id: string }>(
        "select source_id from entities where vertical = 'scoped' and source_id like 'p-%'",
      );
      expect(left.rows).toEqual([{ source_id: 'p-1' }]);
      expect((await entities('scoped')).live).toEqual(range(1, n).filter((i) => i % 2 === 1 && i !== 3 && i !== 5));
    });

    test('the guard: a sweep that would delete 60% (or an empty view) deletes nothing until confirmed', async () => {
      const n = 100;
      const table = await newTable(rowsOf(1, n));
      const id = await connectorFor('guarded', table, { deletes: { mode: 'hard' } });
      await run(id, 'incremental');
      await ctx.source().remove(table, 'id', range(1, 60));
      const held = await run(id, 'sweep');
      expect(held.outcome).toMatchObject({ interrupted: false, held: { pending: 60, live: 100 } } satisfies Partial<PullOutcome>);
      expect(held.run).toMatchObject({ deleted: 0, pending_deletes: 60 });
      expect((await entities('guarded')).live).toHaveLength(n);

      // The processor records the held run as needs_confirmation; confirming lets the same run go ahead.
      await platform.pool.query("update connector_runs set status = 'needs_confirmation' where id = $1", [held.runId]);
      expect(await confirmRun(platform.pool, held.runId)).not.toBeNull();
      const connector = (await loadConnectorForRun(platform.pool, testBox, id))!;
      const confirmed = await runPull({ pool: platform.pool, connector, runId: held.runId, mode: 'sweep', signal: never });
      expect(confirmed).toMatchObject({ interrupted: false, run: { deleted: 60 } });
      expect((await entities('guarded')).live).toEqual(range(61, n));

      // A where that matches nothing reads an empty source: held, nothing deleted.
      await platform.pool.query("update connectors set settings = settings || jsonb_build_object('where', $2::jsonb) where id = $1", [
        id,
        JSON.stringify(ctx.source().whereEquals('region', 'nowhere')),
      ]);
      expect((await run(id, 'sweep')).outcome).toMatchObject({ held: { pending: 40, live: 40 } });
      expect((await entities('guarded')).live).toEqual(range(61, n));
    });

    test('verify finds planted drift (an edited entity, a row changed without its cursor, an extra entity, a missing one) and none after a full resync', async () => {
      const n = 150;
      const table = await newTable(rowsOf(1, n));
      const id = await connectorFor('verified', table, { deletes: { mode: 'hard', max_fraction: 1 } });
      await run(id, 'incremental');
      const clean = await run(id, 'verify');
      expect(clean.run.verify).toEqual({ checked: n, missing: 0, extra: 0, stale: 0, samples: { missing: [], extra: [], stale: [] } });

      // Edited in the platform database as every write path writes (the content hash follows the content).
      await platform.pool.query(
        `update entities set vertical_data = vertical_data || '{"region": "edited"}',
           content_hash = encode(sha256(convert_to(name || E'\\n' || (vertical_data || '{"region": "edited"}')::text, 'UTF8')), 'hex')
         where vertical = 'verified' and source_id = '10'`,
      );
      await ctx.source().update(table, { id: 20 }, { name: 'renamed without a new cursor' });
      await platform.pool.query(
        "insert into entities (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash, connector_id) select tenant_id, vertical, entity_type, 'ghost', '9999', 's:9999', '{}', 'x', connector_id from entities where vertical = 'verified' limit 1",
      );
      await ctx.source().insert(table, [{ id: n + 1, name: 'new', updated_at: '2025-01-01T00:00:00.000001Z', region: 'eu' }]);
      const before = await platform.pool.query(
        "select md5(string_agg(id::text || content_hash || updated_at::text, ',' order by id)) as h from entities where vertical = 'verified'",
      );
      const drift = await run(id, 'verify');
      expect(drift.run.verify).toEqual({
        checked: n + 1,
        missing: 1,
        extra: 1,
        stale: 2,
        samples: { missing: [String(n + 1)], extra: ['9999'], stale: ['10', '20'] },
      });
      expect(drift.run).toMatchObject({ inserted: 0, updated: 0, deleted: 0 });
      const after = await platform.pool.query(
        "select md5(string_agg(id::text || content_hash || updated_at::text, ',' order by id)) as h from entities where vertical = 'verified'",
      );
      expect(after.rows).toEqual(before.rows);

      await run(id, 'full');
      expect((await run(id, 'verify')).run.verify).toMatchObject({ checked: n + 1, missing: 0, extra: 0, stale: 0 });
    });

    test('a sweep killed with SIGKILL mid-read resumes and deletes exactly the missing keys', async () => {
      const n = Math.min(3000, capabilities.pagingRows ?? 3000);
      const table = await newTable(rowsOf(1, n, 100));
      const id = await connectorFor('killed_sweep', table, { deletes: { mode: 'hard' }, batch_size: 1000 });
      await run(id, 'incremental');
      await platform.pool.query('update connectors set settings = settings || \'{"batch_size": 5}\' where id = $1', [id]);
      const gone = doomed(n);
      await ctx.source().remove(table, 'id', gone);

      const { runId } = await newRun(platform.pool, id, 'sweep');
      const start = () => {
        const child = spawn(process.execPath, ['--import', 'tsx', CHILD, platform.url, id, runId, 'sweep'], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: process.env,
        });
        let out = '';
        child.stdout.on('data', (c) => (out += c));
        child.stderr.on('data', (c) => (out += c));
        const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
          child.on('exit', (code, signal) => r({ code, signal })),
        );
        return { child, exited, output: () => out };
      };
      const first = start();
      await waitFor(
        'sweep pages committed',
        async () => {
          if (first.child.exitCode !== null) throw new Error(`the sweep exited before it could be killed: ${first.output()}`);
          return (await getRun(platform.pool, runId))!.rows_read >= 200;
        },
        180_000,
        10,
      );
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      const partial = (await getRun(platform.pool, runId))!;
      expect(partial.rows_read).toBeLessThan(n - 137);
      expect(partial.deleted).toBe(0);
      expect((await entities('killed_sweep')).live).toHaveLength(n);

      const second = start();
      expect((await second.exited).code, second.output()).toBe(0);
      const done = (await getRun(platform.pool, runId))!;
      expect(done).toMatchObject({ rows_read: n - 137, deleted: 137 });
      expect((await entities('killed_sweep')).live).toEqual(range(1, n).filter((i) => !gone.includes(i)));
      // Its staged keys are forgotten with the run: their table is gone.
      const staged = await platform.pool.query('select to_regclass($1) as t', [`sweep_staging."${runId}"`]);
      expect(staged.rows[0].t).toBeNull();
    });
  });
}
