import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createIngestion } from '../../../src/core/ingestions';
import { withTransaction } from '../../../src/db/pool';
import { createRun, finishRun, getRun, requeueRun, runJobId, runOfFailedJob } from '../../../src/store/connector-runs';
import { getConnectorState } from '../../../src/store/connector-state';
import { commitPullBatch, completePull, markPullStart, openPull } from '../../../src/store/pull-progress';
import { saveConnector } from '../../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db.drop());

async function connector(tenant = 'acme') {
  const id = await saveConnector(db.pool, tenant, {
    connection_config: { dsn: 'postgres://nobody@127.0.0.1/none' },
    settings: { table: 't' },
  });
  const { rows } = await db.pool.query<{ tenant_id: string }>('select tenant_id from connectors where id = $1', [id]);
  const tenantId = rows[0]!.tenant_id;
  /** A new run's fields. */
  const run = (trigger: 'schedule' | 'manual') => ({ connectorId: id, tenantId, trigger, mode: 'incremental' as const });
  return { id, tenantId, run };
}

const written = (inserted: number, updated = 0, duplicates = 0, rejected = 0) => ({ inserted, updated, duplicates, rejected });

describe('connector_runs: the job that carries a run', () => {
  test('a run is created with its job: a scheduler job it names, or run-<id>; attempts and outcomes never change it', async () => {
    const c = await connector();
    const manual = await createRun(db.pool, { connectorId: c.id, tenantId: c.tenantId, trigger: 'manual', mode: 'full' });
    expect((await getRun(db.pool, manual))!.job_id).toBe(runJobId(manual));
    expect(runJobId(manual)).toBe(`run-${manual}`);

    const fired = `repeat:connector:${c.id}:1767225600000`;
    const scheduled = await createRun(db.pool, { ...c.run('schedule'), status: 'running', jobId: fired });
    await openPull(db.pool, scheduled, c.id, 'incremental');
    await finishRun(db.pool, scheduled, { status: 'retrying', error: 'the source went away', errorKind: 'unreachable' });
    await openPull(db.pool, scheduled, c.id, 'incremental');
    expect(await getRun(db.pool, scheduled)).toMatchObject({
      job_id: fired,
      status: 'running',
      attempts: 2,
      error: null,
      finished_at: null,
    });
  });

  test('a run whose job was lost moves to run-<id>; a finished run is left alone', async () => {
    const c = await connector();
    const fired = `repeat:connector:${c.id}:1767225660000`;
    const lost = await createRun(db.pool, { ...c.run('schedule'), status: 'running', jobId: fired });
    await requeueRun(db.pool, lost, 'its job was lost');
    expect(await getRun(db.pool, lost)).toMatchObject({ job_id: runJobId(lost), status: 'retrying', error_kind: 'requeued' });

    const done = await createRun(db.pool, {
      connectorId: c.id,
      tenantId: c.tenantId,
      trigger: 'schedule',
      mode: 'incremental',
      jobId: `${fired}1`,
    });
    await finishRun(db.pool, done, { status: 'succeeded' });
    await requeueRun(db.pool, done, 'its job was lost');
    expect(await getRun(db.pool, done)).toMatchObject({ job_id: `${fired}1`, status: 'succeeded' });
  });

  test('the run of a failed job is found only with its own job, connector and tenant; malformed ids find nothing', async () => {
    const c = await connector();
    const sibling = await connector();
    const other = await connector('globex');
    const runId = await createRun(db.pool, { connectorId: c.id, tenantId: c.tenantId, trigger: 'manual', mode: 'incremental' });
    const job = { runId, jobId: runJobId(runId), connectorId: c.id, tenantId: c.tenantId };
    expect(await runOfFailedJob(db.pool, job)).toEqual({ id: runId, ingestion_id: null });
    for (const forged of [
      { ...job, jobId: `run-${randomUUID()}` },
      { ...job, connectorId: sibling.id },
      { ...job, connectorId: other.id, tenantId: other.tenantId },
      { ...job, tenantId: other.tenantId },
      { ...job, runId: 'not-a-uuid' },
      { ...job, connectorId: "' or true --" },
      { ...job, tenantId: 42 as unknown as string },
    ]) {
      expect(await runOfFailedJob(db.pool, forged)).toBeNull();
    }
  });

  test('finishing a run resolves to its duration; a run that will be retried stays unfinished', async () => {
    const c = await connector();
    const runId = await createRun(db.pool, { connectorId: c.id, tenantId: c.tenantId, trigger: 'manual', mode: 'incremental' });
    await openPull(db.pool, runId, c.id, 'incremental');
    await db.pool.query("update connector_runs set started_at = now() - interval '2.5 seconds' where id = $1", [runId]);
    const retrying = await finishRun(db.pool, runId, { status: 'retrying', error: 'x', errorKind: 'transient' });
    expect(retrying.duration_ms).toBeGreaterThanOrEqual(2_500);
    expect((await getRun(db.pool, runId))!.finished_at).toBeNull();
    const done = await finishRun(db.pool, runId, { status: 'succeeded' });
    expect(done.duration_ms).toBeGreaterThanOrEqual(2_500);
    expect(await getRun(db.pool, runId)).toMatchObject({ status: 'succeeded', error: null, duration_ms: done.duration_ms });
  });
});

describe('pull progress: what a pull commits as it goes', () => {
  test('each batch moves the position and adds its counts in one statement; completing returns the totals of every attempt', async () => {
    const c = await connector();
    const runId = await createRun(db.pool, {
      connectorId: c.id,
      tenantId: c.tenantId,
      trigger: 'manual',
      mode: 'incremental',
      status: 'running',
    });
    const ingestionId = await createIngestion(db.pool, c.tenantId, { vertical: 'v', entityType: 'e' }, 'connector', 'c');
    expect(await withTransaction(db.pool, (tx) => openPull(tx, runId, c.id, 'incremental'))).toEqual({
      cursor: null,
      lastPull: null,
      ingestionId: null,
      sourceStartedAt: null,
      range: null,
      lastColumns: null,
    });
    await markPullStart(db.pool, runId, {
      mode: 'incremental',
      cursor: null,
      sourceNow: '2026-01-01T00:00:00.000001Z',
      columns: null,
      drift: null,
    });

    const first = { value: '2026-01-01T00:00:00.000001Z', key: [10] };
    const batch = { runId, connectorId: c.id, ingestionId };
    await withTransaction(db.pool, (tx) => commitPullBatch(tx, { ...batch, rowsRead: 10, written: written(8, 0, 1, 1), cursor: first }));
    expect((await getConnectorState(db.pool, c.id)).cursor).toEqual(first);
    // A batch that moved no position (a query without a cursor) keeps the committed one.
    await withTransaction(db.pool, (tx) => commitPullBatch(tx, { ...batch, rowsRead: 5, written: written(0, 5), cursor: null }));
    expect((await getConnectorState(db.pool, c.id)).cursor).toEqual(first);

    // The next attempt resumes from what the first committed, and keeps the first attempt's clock.
    await markPullStart(db.pool, runId, {
      mode: 'incremental',
      cursor: first,
      sourceNow: '2026-06-01T00:00:00Z',
      columns: null,
      drift: null,
    });
    expect(await withTransaction(db.pool, (tx) => openPull(tx, runId, c.id, 'incremental'))).toEqual({
      cursor: first,
      lastPull: null,
      ingestionId,
      sourceStartedAt: '2026-01-01T00:00:00.000001Z',
      range: null,
      lastColumns: null,
    });
    const totals = await withTransaction(db.pool, (tx) => completePull(tx, runId, c.id, '2026-01-01T00:00:00.000001Z'));
    expect(totals).toEqual({
      rows_read: 15,
      inserted: 8,
      updated: 5,
      unchanged: 1,
      rejected: 1,
      deleted: 0,
      undeleted: 0,
      verify: null,
      cursor_after: first,
      source_started_at: '2026-01-01T00:00:00.000001Z',
      rows_held_back: null,
      held_back_until: null,
    });
    expect(await getRun(db.pool, runId)).toMatchObject({ ...totals, cursor_before: null, ingestion_id: ingestionId });
    expect((await getConnectorState(db.pool, c.id)).last_pull).toBe('2026-01-01T00:00:00.000001Z');
  });

  test('a batch rolled back leaves neither its counts nor its position', async () => {
    const c = await connector();
    const runId = await createRun(db.pool, {
      connectorId: c.id,
      tenantId: c.tenantId,
      trigger: 'manual',
      mode: 'incremental',
      status: 'running',
    });
    const ingestionId = await createIngestion(db.pool, c.tenantId, { vertical: 'v', entityType: 'e' }, 'connector', 'c');
    const killed = new Error('the worker died before the commit');
    await expect(
      withTransaction(db.pool, async (tx) => {
        await commitPullBatch(tx, {
          runId,
          connectorId: c.id,
          ingestionId,
          rowsRead: 10,
          written: written(10),
          cursor: { value: 1, key: [1] },
        });
        throw killed;
      }),
    ).rejects.toBe(killed);
    expect(await getRun(db.pool, runId)).toMatchObject({ rows_read: 0, inserted: 0, cursor_after: null, ingestion_id: null });
    expect((await getConnectorState(db.pool, c.id)).cursor).toBeNull();
  });

  test('a full resync forgets the committed position on its first attempt only; a run that commits nothing ends where it began', async () => {
    const c = await connector();
    const old = { value: 5, key: [5] };
    await db.pool.query('update connector_state set cursor = $2, last_pull = $3 where connector_id = $1', [
      c.id,
      JSON.stringify(old),
      '2026-01-01T00:00:00Z',
    ]);
    const runId = await createRun(db.pool, { connectorId: c.id, tenantId: c.tenantId, trigger: 'manual', mode: 'full', status: 'running' });
    const ingestionId = await createIngestion(db.pool, c.tenantId, { vertical: 'v', entityType: 'e' }, 'connector', 'c');

    expect(await withTransaction(db.pool, (tx) => openPull(tx, runId, c.id, 'full'))).toMatchObject({
      cursor: null,
      lastPull: '2026-01-01T00:00:00Z',
    });
    const moved = { value: 2, key: [2] };
    await withTransaction(db.pool, (tx) =>
      commitPullBatch(tx, { runId, connectorId: c.id, ingestionId, rowsRead: 2, written: written(2), cursor: moved }),
    );
    expect(await withTransaction(db.pool, (tx) => openPull(tx, runId, c.id, 'full'))).toMatchObject({ cursor: moved });

    const idle = await createRun(db.pool, {
      connectorId: c.id,
      tenantId: c.tenantId,
      trigger: 'manual',
      mode: 'incremental',
      status: 'running',
    });
    const start = await withTransaction(db.pool, (tx) => openPull(tx, idle, c.id, 'incremental'));
    await markPullStart(db.pool, idle, {
      mode: 'incremental',
      cursor: start.cursor,
      sourceNow: '2026-02-01T00:00:00Z',
      columns: null,
      drift: null,
    });
    const totals = await withTransaction(db.pool, (tx) => completePull(tx, idle, c.id, '2026-02-01T00:00:00Z'));
    expect(totals).toMatchObject({ rows_read: 0, cursor_after: moved });
  });
});
