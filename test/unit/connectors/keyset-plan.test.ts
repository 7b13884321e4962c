import { describe, expect, test } from 'vitest';
import type { Cursor, CursorScalar, KeysetColumn, ReadPlan, Row, RowBatch } from '../../../connectors/contract';
import { ConnectorError } from '../../../connectors/connector-error';
import { afterBranches, pages, planRead, rebatch, type Condition, type KeysetSettings, type Phase } from '../../../connectors/keyset-plan';

// A source held in memory, rendered by evaluating the plan's predicates in JavaScript: the reference renderer
// every real one (SQL, filter documents, Cypher) must agree with.
const col = (name: string, temporal: boolean | null, nullable = false, type = temporal ? 'timestamp' : 'integer'): KeysetColumn => ({
  name,
  type,
  temporal,
  nullable,
});
const NOW = '2026-03-01T12:00:00.000000Z';
const settings = (over: Partial<KeysetSettings> = {}): KeysetSettings => ({
  lagSeconds: null,
  defaultLagSeconds: 60,
  initialValue: null,
  ...over,
});
const plan = (cursor: Cursor | null, mode: ReadPlan['mode'] = 'incremental') => ({ mode, cursor, now: NOW });
const never = new AbortController().signal;

function compare(a: CursorScalar, b: CursorScalar): number {
  if (a === b) return 0;
  return (a as number | string) < (b as number | string) ? -1 : 1;
}

function holds(row: Row, c: Condition<KeysetColumn>): boolean {
  const v = (row[c.column.name] ?? null) as CursorScalar;
  switch (c.op) {
    case 'is-null':
      return v === null;
    case 'not-null':
      return v !== null;
    case '<=':
      return v !== null && compare(v, c.value) <= 0;
    case '>=':
      return v !== null && compare(v, c.value) >= 0;
    case '<':
      return v !== null && compare(v, c.value) < 0;
  }
}

function memoryPage(rows: Row[], phase: Phase<KeysetColumn>) {
  return async (after: CursorScalar[] | null, limit: number): Promise<Row[]> => {
    const branches = after ? afterBranches(phase.order, after) : null;
    const matching = rows.filter(
      (r) =>
        phase.conditions.every((c) => holds(r, c)) &&
        (!branches ||
          branches.some(
            (b) =>
              b.equal.every((e) => r[e.column.name] !== null && compare(r[e.column.name] as CursorScalar, e.value) === 0) &&
              r[b.greater.column.name] !== null &&
              compare(r[b.greater.column.name] as CursorScalar, b.greater.value) > 0,
          )),
    );
    matching.sort((x, y) => {
      for (const c of phase.order) {
        const d = compare(x[c.name] as CursorScalar, y[c.name] as CursorScalar);
        if (d) return d;
      }
      return 0;
    });
    return matching.slice(0, limit);
  };
}

async function readAll(
  rows: Row[],
  cursor: KeysetColumn,
  key: KeysetColumn[],
  from: Cursor | null,
  limit: number,
  s = settings(),
): Promise<RowBatch[]> {
  const read = planRead({ cursor, key, label: 'table "t"' }, s, plan(from));
  if (read.kind !== 'keyset') throw new Error('expected a keyset read');
  const out: RowBatch[] = [];
  for (const phase of read.phases) {
    for await (const batch of pages(phase, memoryPage(rows, phase), (r, c) => r[c.name], limit, never)) out.push(batch);
  }
  return out;
}

/** Rows with many ties and NULL cursors: 60 rows, cursor in 8 values (some after the lag bound), key (g, id). */
function tiedRows(): Row[] {
  const rows: Row[] = [];
  for (let id = 1; id <= 60; id++) {
    const c = id % 7 === 0 ? null : `2026-03-01T11:${50 + ((id * 3) % 10)}:30.000000Z`; // 11:59:30 is after now - 60 s
    rows.push({ id, g: id % 3, c });
  }
  return rows;
}

const ids = (batches: RowBatch[]) => batches.flatMap((b) => b.rows.map((r) => r.id as number));

describe('planRead', () => {
  const c = col('c', true, true);
  const g = col('g', false);
  const id = col('id', false);

  test.each([1, 2, 3, 7, 60])('batch size %i: every row up to the lag bound exactly once, NULL cursors first', async (limit) => {
    const rows = tiedRows();
    const batches = await readAll(rows, c, [g, id], null, limit);
    const bound = '2026-03-01T11:59:00.000000Z'; // now - 60 s: the rows stamped after it wait for the next run
    const wanted = rows.filter((r) => r.c === null || (r.c as string) <= bound).map((r) => r.id as number);
    expect(wanted.length).toBeLessThan(rows.length);
    expect(ids(batches).sort((a, b) => a - b)).toEqual([...wanted].sort((a, b) => a - b));
    expect(new Set(ids(batches)).size).toBe(ids(batches).length);
    // The NULL phase comes first, by key, and its positions carry a null value.
    const nulls = rows.filter((r) => r.c === null).length;
    expect(
      ids(batches)
        .slice(0, nulls)
        .every((i) => i % 7 === 0),
    ).toBe(true);
  });

  test.each([1, 2, 5])('batch size %i: resuming from every batch position reads exactly the rest', async (limit) => {
    const rows = tiedRows();
    const whole = await readAll(rows, c, [g, id], null, limit);
    const all = ids(whole);
    let seen = 0;
    for (const batch of whole) {
      seen += batch.rows.length;
      const rest = await readAll(rows, c, [g, id], batch.cursor, limit);
      expect(ids(rest)).toEqual(all.slice(seen));
    }
  });

  test('the cursor may be the key itself: it pages alone, positions have no key values', async () => {
    const serial = col('id', false);
    const rows = Array.from({ length: 25 }, (_, i) => ({ id: i + 1 }));
    const batches = await readAll(rows, serial, [serial], null, 4);
    expect(ids(batches)).toEqual(rows.map((r) => r.id));
    expect(batches[0]?.cursor).toEqual({ value: 4, key: [] });
    expect(ids(await readAll(rows, serial, [serial], { value: 21, key: [] }, 4))).toEqual([22, 23, 24, 25]);
    const read = planRead({ cursor: serial, key: [serial], label: 't' }, settings(), plan(null));
    expect(read.kind === 'keyset' && read.phases.map((p) => p.conditions.map((x) => x.op))).toEqual([['not-null']]);
  });

  test('a nullable cursor that is the key has no NULL phase', () => {
    const serial = col('id', false, true);
    const read = planRead({ cursor: serial, key: [serial], label: 't' }, settings(), plan(null));
    expect(read.kind === 'keyset' && read.phases.map((p) => p.nulls)).toEqual([false]);
  });

  test('without a key: an incremental read is refused with one message for every source, a full read streams', () => {
    const attempt = () => planRead({ cursor: c, key: [], label: 'collection "orders"' }, settings(), plan(null));
    expect(attempt).toThrow(ConnectorError);
    expect(attempt).toThrow('collection "orders" has no key, so rows sharing a "c" value cannot be paged');
    try {
      attempt();
    } catch (err) {
      expect((err as ConnectorError).kind).toBe('no_key');
    }
    expect(planRead({ cursor: c, key: [], label: 't' }, settings(), plan(null, 'full'))).toEqual({ kind: 'stream' });
    expect(planRead({ cursor: null, key: [id], label: 't' }, settings(), plan(null))).toEqual({ kind: 'stream' });
  });

  test('initial_value starts inclusively and skips the NULL phase', async () => {
    const rows = tiedRows();
    const from = '2026-03-01T11:53:30.000000Z';
    const batches = await readAll(rows, c, [g, id], null, 4, settings({ initialValue: from }));
    const bound = '2026-03-01T11:59:00.000000Z';
    const wanted = rows.filter((r) => r.c !== null && (r.c as string) >= from && (r.c as string) <= bound).map((r) => r.id as number);
    expect(ids(batches).sort((a, b) => a - b)).toEqual(wanted.sort((a, b) => a - b));
  });

  test('a committed position overrides initial_value', () => {
    const read = planRead(
      { cursor: c, key: [id], label: 't' },
      settings({ initialValue: '2020-01-01T00:00:00Z' }),
      plan({ value: '2026-01-01T00:00:00.000000Z', key: [5] }),
    );
    expect(read).toMatchObject({ kind: 'keyset', phases: [{ nulls: false, after: ['2026-01-01T00:00:00.000000Z', 5] }] });
    const conditions = read.kind === 'keyset' ? read.phases[0]!.conditions : [];
    expect(conditions.map((x) => x.op)).toEqual(['<=']);
  });

  test('a run resumed inside the NULL phase finishes it, then reads every value', () => {
    const read = planRead({ cursor: c, key: [g, id], label: 't' }, settings(), plan({ value: null, key: [1, 10] }));
    expect(read).toMatchObject({
      kind: 'keyset',
      phases: [
        { nulls: true, after: [1, 10] },
        { nulls: false, after: null },
      ],
    });
  });

  test('the lag: explicit, default, zero; refused on a cursor that is not a point in time; unknown kinds get no bound', () => {
    const bound = (s: KeysetSettings, cursor = c) => {
      const read = planRead({ cursor, key: [id], label: 't' }, s, plan({ value: 'x', key: [1] }));
      return read.kind === 'keyset' ? read.phases.at(-1)!.conditions.find((x) => x.op === '<=') : undefined;
    };
    expect(bound(settings())).toMatchObject({ value: '2026-03-01T11:59:00.000000Z' });
    expect(bound(settings({ lagSeconds: 0 }))).toMatchObject({ value: NOW });
    expect(bound(settings({ lagSeconds: 3600 }))).toMatchObject({ value: '2026-03-01T11:00:00.000000Z' });
    expect(bound(settings(), col('n', false))).toBeUndefined();
    expect(() => bound(settings({ lagSeconds: 5 }), col('n', false, false, 'bigint'))).toThrow(
      'cursor.lag_seconds applies to timestamp and date cursors, and "n" is bigint',
    );
    expect(bound(settings({ lagSeconds: 5 }), col('n', null))).toBeUndefined();
  });

  test('a committed cursor whose key no longer fits is refused with what to do', () => {
    expect(() => planRead({ cursor: c, key: [g, id], label: 't' }, settings(), plan({ value: 'x', key: [1] }))).toThrow(
      'the committed cursor has 1 key value(s) but the key is now (g, id) - the key or tie-breaker changed since the last run; run a full resync',
    );
  });
});

describe('planRead for a backfill', () => {
  const c = col('c', true, true);
  const key = [col('g', false), col('id', false)];
  const from = '2026-03-01T11:52:30.000000Z';
  const to = '2026-03-01T11:56:30.000000Z';
  const inRange = (r: Row) => r.c !== null && (r.c as string) >= from && (r.c as string) < to;
  const backfill = (resume: Cursor | null) => {
    const read = planRead({ cursor: c, key, label: 'table "t"' }, settings(), { ...plan(resume), range: { from, to } });
    if (read.kind !== 'keyset') throw new Error('expected a keyset read');
    return read;
  };
  const readRange = async (resume: Cursor | null, limit: number) => {
    const out: RowBatch[] = [];
    for (const phase of backfill(resume).phases) {
      for await (const b of pages(phase, memoryPage(tiedRows(), phase), (r, col) => r[col.name], limit, never)) out.push(b);
    }
    return out;
  };

  test.each([1, 4, 60])('batch size %i: exactly the rows with from <= cursor < to, no NULL phase, in order', async (limit) => {
    const want = tiedRows().filter(inRange);
    expect(want.length).toBeGreaterThan(5);
    const batches = await readRange(null, limit);
    expect(backfill(null).phases).toHaveLength(1);
    expect(ids(batches).sort((a, b) => a - b)).toEqual(want.map((r) => r.id as number).sort((a, b) => a - b));
    // Resumed from its own checkpoint after any batch: exactly the rest.
    for (let i = 0; i < batches.length - 1; i++) {
      expect(ids(await readRange(batches[i]!.cursor, limit)), `after batch ${i}`).toEqual(ids(batches.slice(i + 1)));
    }
  });

  test('a source without a cursor column or without a key cannot be backfilled', () => {
    const range = { from, to };
    expect(() => planRead({ cursor: null, key, label: 'table "t"' }, settings(), { ...plan(null), range })).toThrow(/no cursor column/);
    expect(() => planRead({ cursor: c, key: [], label: 'table "t"' }, settings(), { ...plan(null, 'full'), range })).toThrow(/no key/);
  });
});

describe('afterBranches', () => {
  test('deepest first, equal on the leading columns, greater on the next one', () => {
    expect(afterBranches(['c', 'g', 'id'], ['v', 1, 9])).toEqual([
      {
        equal: [
          { column: 'c', value: 'v' },
          { column: 'g', value: 1 },
        ],
        greater: { column: 'id', value: 9 },
      },
      { equal: [{ column: 'c', value: 'v' }], greater: { column: 'g', value: 1 } },
      { equal: [], greater: { column: 'c', value: 'v' } },
    ]);
  });
});

describe('rebatch', () => {
  async function* chunks(...parts: Row[][]) {
    for (const p of parts) yield p;
  }
  const collect = async (it: AsyncIterable<RowBatch>) => {
    const out: RowBatch[] = [];
    for await (const b of it) out.push(b);
    return out;
  };

  test('cuts chunks of any size into batches of the given size, each with the cursor of its last row', async () => {
    const rows = Array.from({ length: 11 }, (_, i) => ({ id: i }));
    const batches = await collect(
      rebatch(chunks(rows.slice(0, 3), rows.slice(3, 4), [], rows.slice(4)), 4, (r) => ({ value: r.id as number, key: [] }), never),
    );
    expect(batches.map((b) => b.rows.map((r) => r.id))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10],
    ]);
    expect(batches.map((b) => b.cursor?.value)).toEqual([3, 7, 10]);
  });

  test('stops after the batch in hand when the signal aborts', async () => {
    const abort = new AbortController();
    const seen: RowBatch[] = [];
    for await (const b of rebatch(chunks(Array.from({ length: 10 }, (_, i) => ({ id: i }))), 3, () => null, abort.signal)) {
      seen.push(b);
      abort.abort();
    }
    expect(seen.map((b) => b.rows.length)).toEqual([3]);
  });
});
