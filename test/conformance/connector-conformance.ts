/**
 * The conformance suite every connector passes, written once and run per source through a
 * `ConformanceFactory` (see conformance-source.ts and the `*.test.ts` files next to this one).
 *
 * Connector level (here): paging without skips or repeats, resuming from any batch, rows arriving between
 * reads, the lag window, exact types, `:last_pull`, keys, read-only sessions and errors.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Cursor, ReadPlan, Row, RowBatch, SourceConnector } from '../../connectors/contract';
import { ConfigError } from '../../connectors/config-error';
import { ConnectorError } from '../../connectors/connector-error';
import { subtractSeconds } from '../../connectors/iso-time';
import { createConnector } from '../../connectors/registry';
import { mirrorCases } from './mirror-cases';
import { pullLevelCases } from './pull-level-cases';
import type {
  ConformanceCapabilities,
  ConformanceFactory,
  ConformanceSource,
  RowValues,
  TableSpec,
  TypeCase,
  WriteAttempt,
} from './conformance-source';

export function defineConnectorConformance(factory: ConformanceFactory): void {
  describe(`${factory.name} connector conformance`, () => {
    const ctx = sourceContext(factory);
    connectorLevelCases(ctx, factory.capabilities ?? {});
    pullLevelCases(ctx);
    mirrorCases(ctx, factory.capabilities ?? {});
  });
}

export interface SourceContext {
  source(): ConformanceSource;
}

function sourceContext(factory: ConformanceFactory): SourceContext {
  let source: ConformanceSource | undefined;
  beforeAll(async () => {
    source = await factory.setup();
  });
  afterAll(async () => {
    await source?.teardown();
  });
  return {
    source: () => {
      if (!source) throw new Error(`${factory.name} source was not set up`);
      return source;
    },
  };
}

const never = new AbortController().signal;

function tableName(prefix: string): string {
  return `${prefix}_${randomUUID().slice(0, 8)}`;
}

/** The usual incremental table: id key, name, updated_at cursor, with the (cursor, key) index. */
function itemsTable(name: string, extra: TableSpec['columns'] = []): TableSpec {
  return {
    name,
    columns: [
      { name: 'id', type: 'bigint' },
      { name: 'name', type: 'text' },
      { name: 'updated_at', type: 'timestamp', nullable: true },
      ...extra,
    ],
    primaryKey: ['id'],
    indexes: [['updated_at', 'id']],
  };
}

async function withConnector<T>(
  source: ConformanceSource,
  overrides: Record<string, unknown>,
  work: (c: SourceConnector) => Promise<T>,
): Promise<T> {
  const connector = await createConnector(source.definition(overrides));
  try {
    return await work(connector);
  } finally {
    await connector.close();
  }
}

function plan(now: string, overrides: Partial<ReadPlan> = {}): ReadPlan {
  return { mode: 'incremental', cursor: null, now, lastPull: null, batchSize: 1000, ...overrides };
}

async function readAll(connector: SourceConnector, p: ReadPlan): Promise<{ rows: Row[]; batches: RowBatch[] }> {
  const batches: RowBatch[] = [];
  for await (const batch of connector.read(p, never)) batches.push(batch);
  return { rows: batches.flatMap((b) => b.rows), batches };
}

/** One read() per batch, each resuming from the previous batch's cursor, as separate runs would. */
async function readBatchByBatch(connector: SourceConnector, p: ReadPlan): Promise<Row[]> {
  const rows: Row[] = [];
  let cursor: Cursor | null = p.cursor;
  for (;;) {
    let got: RowBatch | undefined;
    for await (const batch of connector.read({ ...p, cursor }, never)) {
      got = batch;
      break;
    }
    if (!got) return rows;
    expect(got.cursor).not.toBeNull();
    rows.push(...got.rows);
    cursor = got.cursor;
  }
}

function ids(rows: Row[]): number[] {
  return rows.map((r) => Number(r.id));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function later(iso: string, seconds: number): string {
  return subtractSeconds(iso, -seconds);
}

async function expectConnectorError(promise: Promise<unknown>, kind: ConnectorError['kind']): Promise<ConnectorError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a ConnectorError of kind ${kind}`).toBeInstanceOf(ConnectorError);
  expect((err as ConnectorError).kind, (err as Error).message).toBe(kind);
  return err as ConnectorError;
}

/**
 * How `attempt` is refused: as a definition (a `ConfigError` from validation, before anything reaches the
 * source), or by the source when the connector checks or reads (kind `permission`).
 */
async function refusal(source: ConformanceSource, attempt: WriteAttempt): Promise<ConnectorError> {
  if (attempt.refusedBy === 'source') {
    return withConnector(source, attempt.overrides, (c) =>
      expectConnectorError(
        (async () => {
          await c.check();
          await readAll(c, plan(await c.clock(), { mode: 'full' }));
        })(),
        'permission',
      ),
    );
  }
  const created = await createConnector(source.definition(attempt.overrides)).then(
    async (c) => {
      await c.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(created, `${attempt.label}: expected validation to refuse it`).toBeInstanceOf(ConfigError);
  return created as ConfigError;
}

export function connectorLevelCases(ctx: SourceContext, can: ConformanceCapabilities): void {
  describe('keyset paging', () => {
    let table: string;
    let now: string;
    const total = can.pagingRows ?? 10_000;
    const shared = total * 0.4;

    beforeAll(async () => {
      const source = ctx.source();
      table = tableName('paging');
      await source.createTable(itemsTable(table));
      now = await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at' } }, (c) => c.clock());
      const base = subtractSeconds(now, 2 * 24 * 3600);
      const rows: RowValues[] = [];
      // Ids are written in a scrambled order; the first `shared` ids share one updated_at, the rest come
      // in small runs of equal values, some of them microseconds apart.
      for (let i = 0; i < total; i++) {
        const id = ((i * 7919) % total) + 1;
        const updatedAt = id <= shared ? base : later(base, Math.floor(id / 6) + (id % 3) / 1_000_000);
        rows.push({ id, name: `item ${id}`, updated_at: updatedAt });
      }
      await source.insert(table, rows);
    });

    for (const batchSize of [7, 1000]) {
      test(`batch size ${batchSize}: every row exactly once, in (cursor, key) order`, async () => {
        const source = ctx.source();
        await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at' } }, async (c) => {
          const { rows, batches } = await readAll(c, plan(now, { batchSize }));
          expect(rows).toHaveLength(total);
          expect(ids(rows).sort((a, b) => a - b)).toEqual(range(1, total));
          expect(batches.every((b) => b.rows.length <= batchSize)).toBe(true);
          for (let i = 1; i < rows.length; i++) {
            const [a, b] = [rows[i - 1] as Row, rows[i] as Row];
            const ordered = String(a.updated_at) < String(b.updated_at) || (a.updated_at === b.updated_at && Number(a.id) < Number(b.id));
            expect(ordered, `row ${i} out of order`).toBe(true);
          }
          const last = batches.at(-1)?.cursor;
          expect(last).toEqual({ value: rows.at(-1)?.updated_at, key: [rows.at(-1)?.id] });
        });
      });

      test(`batch size ${batchSize}: resuming from each batch's cursor in separate reads, every row exactly once`, async () => {
        const source = ctx.source();
        await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at' } }, async (c) => {
          const rows = await readBatchByBatch(c, plan(now, { batchSize }));
          expect(rows).toHaveLength(total);
          expect(new Set(ids(rows)).size).toBe(total);
        });
      });
    }

    test('a read with nothing new returns no batch', async () => {
      const source = ctx.source();
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at' } }, async (c) => {
        const { batches } = await readAll(c, plan(now));
        const again = await readAll(c, plan(now, { cursor: batches.at(-1)?.cursor ?? null }));
        expect(again.batches).toEqual([]);
      });
    });

    test('initial_value starts the first read at that cursor value (inclusive)', async () => {
      const source = ctx.source();
      const base = subtractSeconds(now, 2 * 24 * 3600);
      const from = later(base, Math.floor((total * 0.9) / 6));
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at', initial_value: from } }, async (c) => {
        const { rows } = await readAll(c, plan(now));
        const expected = range(shared + 1, total).filter((id) => later(base, Math.floor(id / 6) + (id % 3) / 1_000_000) >= from);
        expect(ids(rows).sort((a, b) => a - b)).toEqual(expected);
      });
    });
  });

  describe('rows written between reads', () => {
    test('inserts and updates after a read are picked up, rows at the committed cursor value included, none doubled', async () => {
      const source = ctx.source();
      const table = tableName('between');
      await source.createTable(itemsTable(table));
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at', lag_seconds: 0 } }, async (c) => {
        const now = await c.clock();
        const t1 = subtractSeconds(now, 300);
        await source.insert(
          table,
          range(1, 20).map((id) => ({ id, name: `item ${id}`, updated_at: id <= 10 ? subtractSeconds(t1, 60) : t1 })),
        );
        const first = await readAll(c, plan(now, { batchSize: 6 }));
        expect(ids(first.rows).sort((a, b) => a - b)).toEqual(range(1, 20));
        const committed = first.batches.at(-1)?.cursor ?? null;
        expect(committed).toEqual({ value: source.timestampOut(t1), key: [20] });

        const t2 = subtractSeconds(now, 100);
        await source.insert(table, [
          { id: 21, name: 'same cursor value, next key', updated_at: t1 },
          { id: 22, name: 'newer', updated_at: t2 },
        ]);
        await source.update(table, { id: 5 }, { name: 'item 5 updated', updated_at: t2 });
        await source.update(table, { id: 20 }, { name: 'item 20 updated', updated_at: t2 });

        const second = await readAll(c, plan(await c.clock(), { cursor: committed, batchSize: 2 }));
        expect(ids(second.rows)).toEqual([21, 5, 20, 22]);
        expect(second.rows.find((r) => Number(r.id) === 5)?.name).toBe('item 5 updated');

        const third = await readAll(c, plan(await c.clock(), { cursor: second.batches.at(-1)?.cursor ?? null }));
        expect(third.rows).toEqual([]);
      });
    });
  });

  describe('lag window', () => {
    /**
     * A writer stamps a row 30 s before the read but has not committed yet; another row, stamped 10 s
     * before the read, is already committed. The late row commits after the first read.
     */
    async function lateCommit(lagSeconds: number): Promise<{ first: number[]; second: number[] }> {
      const source = ctx.source();
      const table = tableName(`lag${lagSeconds}`);
      await source.createTable(itemsTable(table));
      return withConnector(
        source,
        { table: source.tableRef(table), cursor: { column: 'updated_at', lag_seconds: lagSeconds } },
        async (c) => {
          const now = await c.clock();
          await source.insert(table, [
            { id: 1, name: 'old', updated_at: subtractSeconds(now, 300) },
            { id: 2, name: 'old', updated_at: subtractSeconds(now, 290) },
          ]);
          const writer = await source.begin();
          try {
            await writer.insert(table, [{ id: 3, name: 'committed late', updated_at: subtractSeconds(now, 30) }]);
            await source.insert(table, [{ id: 4, name: 'committed at once', updated_at: subtractSeconds(now, 10) }]);
            const first = await readAll(c, plan(now));
            await writer.commit();
            // The next run, 70 s later by the source clock.
            const second = await readAll(c, plan(later(now, 70), { cursor: first.batches.at(-1)?.cursor ?? null }));
            return { first: ids(first.rows), second: ids(second.rows) };
          } catch (err) {
            await writer.rollback();
            throw err;
          }
        },
      );
    }

    test.runIf(can.transactions !== false)(
      'a row committed late with an older cursor value is picked up when the lag covers the transaction',
      async () => {
        const { first, second } = await lateCommit(60);
        expect(first).toEqual([1, 2]);
        expect(second).toEqual([3, 4]);
      },
    );

    test.runIf(can.transactions !== false)(
      'without a lag window that row is lost (documented: keep lag_seconds above the longest write transaction)',
      async () => {
        const { first, second } = await lateCommit(0);
        expect(first).toEqual([1, 2, 4]);
        expect(second).toEqual([]);
      },
    );

    test('rows newer than source now − lag wait for a later read', async () => {
      const source = ctx.source();
      const table = tableName('recent');
      await source.createTable(itemsTable(table));
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at' } }, async (c) => {
        const now = await c.clock();
        await source.insert(table, [
          { id: 1, name: 'old', updated_at: subtractSeconds(now, 600) },
          { id: 2, name: 'recent', updated_at: subtractSeconds(now, 5) },
        ]);
        const first = await readAll(c, plan(now));
        expect(ids(first.rows)).toEqual([1]);
        // The run reports what the lag window kept back (its history says how many rows and from when).
        expect(await c.heldBack?.(plan(now), 100)).toMatchObject({ rows: 1 });
        const second = await readAll(c, plan(later(now, 120), { cursor: first.batches.at(-1)?.cursor ?? null }));
        expect(ids(second.rows)).toEqual([2]);
        expect(await c.heldBack?.(plan(now), 100)).toEqual({ rows: 1, first: second.rows[0]?.updated_at });
        expect(await c.heldBack?.(plan(later(now, 120)), 100)).toEqual({ rows: 0, first: null });
      });
    });
  });

  describe('rows with a NULL cursor value', () => {
    test('a read from the beginning returns them first, by key, resumably; later reads do not repeat them', async () => {
      const source = ctx.source();
      const table = tableName('nulls');
      await source.createTable(itemsTable(table));
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at', lag_seconds: 0 } }, async (c) => {
        const now = await c.clock();
        await source.insert(table, [
          { id: 1, name: 'a', updated_at: subtractSeconds(now, 100) },
          { id: 2, name: 'null', updated_at: null },
          { id: 3, name: 'b', updated_at: subtractSeconds(now, 200) },
          { id: 4, name: 'null', updated_at: null },
          { id: 5, name: 'null', updated_at: null },
        ]);
        const first = await readAll(c, plan(now, { batchSize: 2 }));
        expect(ids(first.rows)).toEqual([2, 4, 5, 3, 1]);
        expect(first.batches.map((b) => b.cursor?.value ?? null).slice(0, 2)).toEqual([null, null]);
        const byBatch = await readBatchByBatch(c, plan(now, { batchSize: 2 }));
        expect(ids(byBatch)).toEqual([2, 4, 5, 3, 1]);

        await source.insert(table, [{ id: 6, name: 'null, after the first run', updated_at: null }]);
        const incremental = await readAll(c, plan(now, { cursor: first.batches.at(-1)?.cursor ?? null }));
        expect(incremental.rows).toEqual([]);
        const full = await readAll(c, plan(now, { mode: 'full' }));
        expect(ids(full.rows)).toEqual([2, 4, 5, 6, 3, 1]);
      });
    });
  });

  describe('exact types', () => {
    /** Writes one row holding every case and one holding none; each reads back as documented, NULLs as null. */
    async function expectTypes(source: ConformanceSource, cases: TypeCase[]): Promise<void> {
      const table = tableName('types');
      await source.createTable({
        name: table,
        columns: [
          { name: 'id', type: 'integer' },
          ...cases.map((t) => ({ name: t.column, type: { native: t.nativeType }, nullable: true })),
        ],
        primaryKey: ['id'],
      });
      await source.insert(table, [{ id: 1, ...Object.fromEntries(cases.map((t) => [t.column, t.input])) }, { id: 2 }]);
      await withConnector(source, { table: source.tableRef(table) }, async (c) => {
        const { rows, batches } = await readAll(c, plan(await c.clock()));
        expect(batches.every((b) => b.cursor === null)).toBe(true);
        const byId = new Map(rows.map((r) => [Number(r.id), r]));
        const full = byId.get(1) as Row;
        for (const t of cases) expect(full[t.column], `${t.column} (${t.nativeType})`).toEqual(t.expected);
        const empty = byId.get(2) as Row;
        for (const t of cases) {
          const value = can.storesNull === false && !(t.column in empty) ? null : empty[t.column];
          expect(value, `${t.column} (${t.nativeType}) NULL`).toBeNull();
        }
      });
    }

    test('every type of the source maps to its documented JSON form, NULLs stay null', async () => {
      const source = ctx.source();
      await expectTypes(source, source.typeCases);
    });

    for (const t of can.serverTypeCases ?? []) {
      test(`${t.column} (${t.nativeType}, not every server stores it) maps to its documented JSON form`, async (context) => {
        const source = ctx.source();
        const reason = source.cannotStore?.(t) ?? null;
        if (reason) context.skip(reason);
        await expectTypes(source, [t]);
      });
    }

    // The finest step the source's timestamps hold: microseconds, or milliseconds (MongoDB dates).
    const step = can.timestampStep === 'millisecond' ? 0.001 : 0.000001;
    test(`${can.timestampStep ?? 'microsecond'} cursor values and keys beyond 2^53 page exactly`, async () => {
      const source = ctx.source();
      const table = tableName('precise');
      await source.createTable(itemsTable(table));
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at', lag_seconds: 0 } }, async (c) => {
        const now = await c.clock();
        const t = subtractSeconds(now, 100);
        const rows = [
          { id: '9007199254740993', name: 'big odd', updated_at: t },
          { id: '9007199254740992', name: 'big even', updated_at: t },
          { id: 3, name: '+1 step', updated_at: later(t, step) },
          { id: 4, name: '+2 steps', updated_at: later(t, 2 * step) },
        ];
        await source.insert(table, rows);
        const read = await readBatchByBatch(c, plan(now, { batchSize: 1 }));
        expect(read.map((r) => [r.id, r.updated_at])).toEqual([
          ['9007199254740992', source.timestampOut(t)],
          ['9007199254740993', source.timestampOut(t)],
          [3, source.timestampOut(later(t, step))],
          [4, source.timestampOut(later(t, 2 * step))],
        ]);
      });
    });
  });

  describe('query mode', () => {
    test(':last_pull is the epoch before the first run, then the last run start minus the lag', async () => {
      const source = ctx.source();
      const table = tableName('lastpull');
      await source.createTable(itemsTable(table));
      const probe = await createConnector(source.definition({ table: source.tableRef(table) }));
      const now = await probe.clock();
      await probe.close();
      await source.insert(table, [
        { id: 1, name: 'old', updated_at: subtractSeconds(now, 3600) },
        { id: 2, name: 'recent', updated_at: subtractSeconds(now, 100) },
      ]);
      const lastPull = subtractSeconds(now, 200);
      const query = source.lastPullQuery(table);
      await withConnector(source, { query, cursor: { lag_seconds: 0 } }, async (c) => {
        const first = await readAll(c, plan(now));
        expect(ids(first.rows).sort()).toEqual([1, 2]);
        expect(first.batches.every((b) => b.cursor === null)).toBe(true);
        expect(ids((await readAll(c, plan(now, { lastPull }))).rows)).toEqual([2]);
        expect(ids((await readAll(c, plan(now, { lastPull, mode: 'full' }))).rows).sort()).toEqual([1, 2]);
      });
      await withConnector(source, { query, cursor: { lag_seconds: 3500 } }, async (c) => {
        expect(ids((await readAll(c, plan(now, { lastPull }))).rows).sort()).toEqual([1, 2]);
      });
    });

    test('with a cursor, the query is paged by keyset around it', async () => {
      const source = ctx.source();
      const table = tableName('querykeyset');
      await source.createTable(itemsTable(table));
      const probe = await createConnector(source.definition({ table: source.tableRef(table) }));
      const now = await probe.clock();
      await probe.close();
      const t = subtractSeconds(now, 600);
      await source.insert(
        table,
        range(1, 50).map((id) => ({ id, name: `item ${id}`, updated_at: later(t, id % 5) })),
      );
      await withConnector(
        source,
        { query: source.projectionQuery(table), cursor: { column: 'updated_at', tiebreaker: 'id' } },
        async (c) => {
          const rows = await readBatchByBatch(c, plan(now, { batchSize: 4 }));
          expect(ids(rows).sort((a, b) => a - b)).toEqual(range(1, 50));
          expect(ids(rows).slice(0, 3)).toEqual([5, 10, 15]);
        },
      );
    });
  });

  describe('keys', () => {
    test.runIf(can.compositeKeys !== false)('a composite primary key is discovered and pages exactly', async () => {
      const source = ctx.source();
      const table = tableName('composite');
      await source.createTable({
        name: table,
        columns: [
          { name: 'region', type: 'text' },
          { name: 'id', type: 'integer' },
          { name: 'name', type: 'text' },
          { name: 'updated_at', type: 'timestamp' },
        ],
        primaryKey: ['region', 'id'],
        indexes: [['updated_at', 'region', 'id']],
      });
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at', lag_seconds: 0 } }, async (c) => {
        const now = await c.clock();
        const t = subtractSeconds(now, 60);
        const rows: RowValues[] = [];
        for (const region of ['eu', 'us', 'apac'])
          for (const id of range(1, 12)) rows.push({ region, id, name: `${region}-${id}`, updated_at: id <= 8 ? t : later(t, id) });
        await source.insert(table, rows);
        expect((await c.describe()).primaryKey).toEqual(['region', 'id']);
        const read = await readBatchByBatch(c, plan(now, { batchSize: 5 }));
        expect(read.map((r) => `${r.region}-${r.id}`).sort()).toEqual(rows.map((r) => `${r.region}-${r.id}`).sort());
        const { batches } = await readAll(c, plan(now, { batchSize: 5 }));
        expect(batches[0]?.cursor).toEqual({ value: source.timestampOut(t), key: ['apac', 5] });
      });
    });

    test('text keys with quotes, backslashes and unicode page exactly', async () => {
      const source = ctx.source();
      const table = tableName('textkeys');
      await source.createTable({
        name: table,
        columns: [
          { name: 'code', type: 'text' },
          { name: 'name', type: 'text' },
          { name: 'updated_at', type: 'timestamp' },
        ],
        primaryKey: ['code'],
        indexes: [['updated_at', 'code']],
      });
      const codes = ["it's", 'back\\slash', '\\', "'; DROP TABLE x; --", '"double"', 'Ünïcødé', '😀 emoji', '%_like', 'new\nline', 'plain'];
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at', lag_seconds: 0 } }, async (c) => {
        const now = await c.clock();
        const t = subtractSeconds(now, 60);
        await source.insert(
          table,
          codes.map((code) => ({ code, name: code, updated_at: t })),
        );
        const rows = await readBatchByBatch(c, plan(now, { batchSize: 1 }));
        expect(rows.map((r) => r.code).sort()).toEqual([...codes].sort());
      });
      expect(await source.count(table)).toBe(codes.length);
    });

    test.runIf(can.keylessTables !== false)(
      'a table without a primary key is refused for keyset reading, read whole in full mode, paged with a tiebreaker',
      async () => {
        const source = ctx.source();
        const table = tableName('nokey');
        await source.createTable({ ...itemsTable(table), primaryKey: undefined, indexes: [] });
        await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at' } }, async (c) => {
          const now = await c.clock();
          await source.insert(
            table,
            range(1, 30).map((id) => ({ id, name: `item ${id}`, updated_at: subtractSeconds(now, 1000) })),
          );
          const err = await expectConnectorError(readAll(c, plan(now)), 'no_key');
          expect(err.message).toMatch(/no primary key/);
          expect(err.message).toMatch(/tiebreaker/);
          expect(err.retryable).toBe(false);
          const full = await readAll(c, plan(now, { mode: 'full', batchSize: 7 }));
          expect(ids(full.rows).sort((a, b) => a - b)).toEqual(range(1, 30));
          expect(full.batches.every((b) => b.cursor === null)).toBe(true);
        });
        await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at', tiebreaker: 'id' } }, async (c) => {
          const rows = await readBatchByBatch(c, plan(await c.clock(), { batchSize: 7 }));
          expect(ids(rows)).toEqual(range(1, 30));
        });
      },
    );
  });

  describe('the cursor is the key', () => {
    // An auto-increment id read as the cursor: unique, so it pages alone, whichever way the config says so.
    const settings: Array<[string, Record<string, unknown>]> = [
      ['the cursor alone', { cursor: { column: 'id' } }],
      ['primary_key: ["id"]', { cursor: { column: 'id' }, primary_key: ['id'] }],
      ['tiebreaker: "id"', { cursor: { column: 'id', tiebreaker: 'id' } }],
    ];
    for (const [label, overrides] of settings) {
      test(`${label}: the first read, resuming from every batch, then only the rows inserted since`, async () => {
        const source = ctx.source();
        const table = tableName('serial');
        await source.createTable({
          name: table,
          columns: [
            { name: 'id', type: 'bigint' },
            { name: 'name', type: 'text' },
          ],
          primaryKey: ['id'],
        });
        await source.insert(
          table,
          range(1, 25).map((id) => ({ id, name: `item ${id}` })),
        );
        await withConnector(source, { table: source.tableRef(table), ...overrides }, async (c) => {
          const now = await c.clock();
          const first = await readAll(c, plan(now, { batchSize: 4 }));
          expect(ids(first.rows)).toEqual(range(1, 25));
          expect(first.batches.map((b) => b.cursor)).toEqual([4, 8, 12, 16, 20, 24, 25].map((value) => ({ value, key: [] })));
          expect(ids(await readBatchByBatch(c, plan(now, { batchSize: 4 })))).toEqual(range(1, 25));
          expect(ids(await readBatchByBatch(c, plan(now, { batchSize: 4, cursor: { value: 9, key: [] } })))).toEqual(range(10, 25));

          // An id cursor sees inserts only: an updated row keeps its id and is not read again.
          await source.insert(
            table,
            range(26, 30).map((id) => ({ id, name: `item ${id}` })),
          );
          await source.update(table, { id: 3 }, { name: 'item 3 updated' });
          const second = await readAll(c, plan(await c.clock(), { cursor: first.batches.at(-1)?.cursor ?? null, batchSize: 4 }));
          expect(ids(second.rows)).toEqual(range(26, 30));
          expect((await readAll(c, plan(await c.clock(), { cursor: second.batches.at(-1)?.cursor ?? null }))).batches).toEqual([]);
          const full = await readAll(c, plan(await c.clock(), { mode: 'full', batchSize: 7 }));
          expect(ids(full.rows)).toEqual(range(1, 30));
          expect(full.rows.find((r) => Number(r.id) === 3)?.name).toBe('item 3 updated');
        });
      });
    }
  });

  describe('reading without a cursor column', () => {
    test('the whole table streams in batches; stopping early or aborting releases the source', async () => {
      const source = ctx.source();
      const table = tableName('stream');
      await source.createTable(itemsTable(table));
      await source.insert(
        table,
        range(1, 95).map((id) => ({ id, name: `item ${id}`, updated_at: null })),
      );
      await withConnector(source, { table: source.tableRef(table), columns: ['name'] }, async (c) => {
        const now = await c.clock();
        for await (const batch of c.read(plan(now, { batchSize: 10 }), never)) {
          expect(batch.rows).toHaveLength(10);
          break;
        }
        const abort = new AbortController();
        let batches = 0;
        for await (const _batch of c.read(plan(now, { batchSize: 10 }), abort.signal)) {
          batches++;
          abort.abort();
        }
        expect(batches).toBe(1);
        const { rows, batches: all } = await readAll(c, plan(now, { batchSize: 10 }));
        expect(all.map((b) => b.rows.length)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 5]);
        expect(ids(rows).sort((a, b) => a - b)).toEqual(range(1, 95));
        expect(Object.keys(rows[0] as Row).sort()).toEqual(['id', 'name']);
      });
    });
  });

  describe('describe and discover', () => {
    test('describe reports the columns and the discovered key; discover lists the table', async () => {
      const source = ctx.source();
      const table = tableName('described');
      await source.createTable(itemsTable(table));
      // Schemaless sources (MongoDB, Neo4j) know fields from the documents they hold.
      await source.insert(table, [{ id: 1, name: 'one', updated_at: '2026-01-01T00:00:00.000000Z' }]);
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'updated_at' } }, async (c) => {
        const described = await c.describe();
        const implicit = new Set(source.implicitColumns ?? []);
        expect(described.columns.map((col) => col.name).filter((n) => !implicit.has(n))).toEqual(['id', 'name', 'updated_at']);
        expect(described.primaryKey).toEqual(['id']);
        const tables = (await c.discover?.()) ?? [];
        const found = tables.find((t) => t.name === source.tableRef(table) || t.name.endsWith(`.${table}`) || t.name === table);
        expect(found?.primaryKey).toEqual(['id']);
      });
    });
  });

  describe('read-only sessions', () => {
    test('queries that try to write are refused, by validation or by the source, and change nothing', async () => {
      const source = ctx.source();
      const table = tableName('readonly');
      await source.createTable(itemsTable(table));
      await source.insert(table, [{ id: 1, name: 'original', updated_at: '2026-01-01T00:00:00.000000Z' }]);
      const attempts = await source.writeAttempts(table);
      expect(attempts.length).toBeGreaterThan(0);
      for (const attempt of attempts) {
        const err = await refusal(source, attempt);
        expect(err.message, attempt.label).toMatch(/only reads/);
      }
      expect(await source.count(table)).toBe(1);
      await withConnector(source, { table: source.tableRef(table) }, async (c) => {
        const { rows } = await readAll(c, plan(await c.clock()));
        expect(rows.map((r) => r.name)).toEqual(['original']);
      });
    });
  });

  describe('errors', () => {
    test('wrong password, unknown host, unknown table and bad SQL are distinct errors without secrets', async () => {
      const source = ctx.source();
      const table = tableName('errors');
      await source.createTable(itemsTable(table));
      const { connection_config: badPassword, password } = source.wrongPassword;
      const attempts: Array<[ConnectorError['kind'], Record<string, unknown>]> = [
        ['auth', { table: source.tableRef(table), connection_config: badPassword }],
        ['unreachable', { table: source.tableRef(table), connection_config: source.unknownHost }],
        ['not_found', { table: source.tableRef(`${table}_missing`) }],
        ['syntax', { query: source.syntaxErrorQuery }],
      ];
      const kinds: string[] = [];
      for (const [kind, overrides] of attempts) {
        await withConnector(source, overrides, async (c) => {
          const err = await expectConnectorError(c.check(), kind);
          kinds.push(err.kind);
          expect(err.retryable).toBe(kind === 'unreachable');
          expect(err.message).not.toContain(password);
          expect(err.message).not.toMatch(/\/\/[^/\s]*:[^/\s]*@/);
          expect(err.message.length).toBeGreaterThan(20);
        });
      }
      expect(new Set(kinds).size).toBe(attempts.length);
    });

    test('a cursor column that does not exist is reported by name', async () => {
      const source = ctx.source();
      const table = tableName('nocolumn');
      await source.createTable(itemsTable(table));
      await source.insert(table, [{ id: 1, name: 'one', updated_at: '2026-01-01T00:00:00.000000Z' }]);
      await withConnector(source, { table: source.tableRef(table), cursor: { column: 'modified_at' } }, async (c) => {
        const err = await expectConnectorError(c.check(), 'not_found');
        expect(err.message).toContain('modified_at');
      });
    });
  });
}
