import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { distribution } from '../../bench/lib/percentiles';
import { runPull } from '../../jobs/run-pull';
import { ensureTenant } from '../../src/auth/api-keys';
import { upsertEntities } from '../../src/core/upsert-entities';
import { withTransaction } from '../../src/db/pool';
import { withRetriedTransaction } from '../../src/db/retried-transaction';
import { bearer, testApi, type TestApi } from '../helpers/api';
import { newRun, saveConnector } from '../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';

let t: TestApi;
let key: string;
let source: TestDatabase;
beforeAll(async () => {
  [t, source] = await Promise.all([testApi(), freshDatabase('qsrc', false)]);
  key = await t.key('acme', ['ingest', 'read']);
});
afterAll(() => Promise.all([t.close(), source.drop()]));

interface Outcome {
  status: number;
  ms: number;
  body: string;
}

async function timed(fn: () => Promise<{ status: number; body: string }>): Promise<Outcome> {
  const start = performance.now();
  const r = await fn();
  return { ...r, ms: performance.now() - start };
}

const push = (vertical: string, records: unknown[]) =>
  timed(async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/ingest/${vertical}/product/batch`,
      headers: { ...bearer(key), 'content-type': 'application/json' },
      payload: JSON.stringify({ records }),
    });
    return { status: res.statusCode, body: res.body };
  });

/** Prints the figures the README quotes and returns the failures, so a failing run shows what went wrong. */
function report(label: string, outcomes: Outcome[]): string[] {
  const d = distribution(outcomes.map((o) => o.ms));
  const failed = outcomes.filter((o) => o.status !== 200);
  console.log(`${label}: ${outcomes.length} requests, ${failed.length} failed, p50 ${d.median.toFixed(0)} ms, p99 ${d.p99.toFixed(0)} ms`);
  return failed.map((o) => `${o.status} ${o.body.slice(0, 200)}`);
}

/** A deterministic shuffle (mulberry32), so a failure replays. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function stored(vertical: string) {
  const { rows } = await t.db.pool.query<{ source_id: string; name: string; vertical_data: { tag?: string } }>(
    'select source_id, name, vertical_data from entities where vertical = $1',
    [vertical],
  );
  return new Map(rows.map((r) => [r.source_id, r]));
}

async function ingestionTotals(vertical: string) {
  const { rows } = await t.db.pool.query(
    `select count(*)::int as n, count(*) filter (where status <> 'complete')::int as not_complete, coalesce(sum(record_count), 0)::int as records,
            coalesce(sum(inserted), 0)::int as inserted, coalesce(sum(updated + unchanged), 0)::int as rewritten from ingestions where vertical = $1`,
    [vertical],
  );
  return rows[0] as { n: number; not_complete: number; records: number; inserted: number; rewritten: number };
}

describe('concurrent writers to the same entities', () => {
  test('two requests upserting the same 1,000 source_ids in opposite orders both succeed, five times over', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `sku-${(i * 7919) % 1000}`);
    const outcomes: Outcome[] = [];
    for (let round = 0; round < 5; round++) {
      const batch = (tag: string, order: string[]) => order.map((id) => ({ name: `P ${id}`, source_id: id, vertical_data: { tag } }));
      const pair = await Promise.all([push('opposite', batch(`a${round}`, ids)), push('opposite', batch(`b${round}`, [...ids].reverse()))]);
      outcomes.push(...pair);
      // Each batch is one transaction and both lock in one order, so the one that committed last owns every row.
      const tags = new Set([...(await stored('opposite')).values()].map((e) => e.vertical_data.tag));
      expect(tags.size, `round ${round}: ${[...tags].join(', ')}`).toBe(1);
      expect([`a${round}`, `b${round}`]).toContain([...tags][0]);
    }
    expect(report('2 requests, opposite orders, 1,000 shared source_ids (x5)', outcomes)).toEqual([]);
    expect((await stored('opposite')).size).toBe(1000);
    expect(await ingestionTotals('opposite')).toEqual({ n: 10, not_complete: 0, records: 10_000, inserted: 1000, rewritten: 9000 });
  });

  test('the upsert alone takes its locks in key order: plain transactions (no retry) with reversed batches never deadlock', async () => {
    const tenantId = await ensureTenant(t.db.pool, 'acme');
    const rows = (tag: string) =>
      Array.from({ length: 1000 }, (_, i) => ({ name: `n${i}`, sourceId: `r${i}`, dedupKey: `s:r${i}`, data: JSON.stringify({ tag }) }));
    for (let round = 0; round < 5; round++) {
      const write = (tag: string, order: 1 | -1) =>
        withTransaction(t.db.pool, async (c) => {
          const batch = rows(tag);
          await upsertEntities(c, tenantId, 'lockorder', 'product', order === 1 ? batch : batch.reverse());
          await c.query('select pg_sleep(0.05)'); // hold the locks while the other transaction queues behind them
        });
      const settled = await Promise.allSettled([write(`a${round}`, 1), write(`b${round}`, -1)]);
      expect(settled.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
    }
  });

  test('8 clients sending shuffled, overlapping batches: no failure, every key inserted once, every row a version that was sent', async () => {
    const space = Array.from({ length: 2000 }, (_, i) => `item-${i}`);
    const sent = new Map<string, Set<string>>();
    const clients = Array.from({ length: 8 }, async (_, client) => {
      const outcomes: Outcome[] = [];
      for (let round = 0; round < 4; round++) {
        const keys = shuffled(space, client * 100 + round).slice(0, 1000);
        const tag = `c${client}r${round}`;
        for (const k of keys) sent.set(k, (sent.get(k) ?? new Set()).add(tag));
        outcomes.push(
          await push(
            'shuffled',
            keys.map((k) => ({ name: k, source_id: k, vertical_data: { tag } })),
          ),
        );
      }
      return outcomes;
    });
    const outcomes = (await Promise.all(clients)).flat();
    expect(report('8 clients x 4 shuffled batches of 1,000 from 2,000 keys', outcomes)).toEqual([]);
    const rows = await stored('shuffled');
    expect(rows.size).toBe(sent.size);
    for (const [k, e] of rows) expect(sent.get(k)!.has(e.vertical_data.tag!), k).toBe(true);
    expect(await ingestionTotals('shuffled')).toEqual({
      n: 32,
      not_complete: 0,
      records: 32_000,
      inserted: sent.size,
      rewritten: 32_000 - sent.size,
    });
  });

  test('connector pulls and pushes writing the same entities at once: no failure, exact final state', async () => {
    await source.pool.query('create table products (id bigint primary key, name text not null, tag text not null)');
    await source.pool.query(`insert into products select g, 'pulled ' || g, 'pull' from generate_series(1, 3000) g`);
    const ids = Array.from({ length: 3000 }, (_, i) => String(i + 1));
    // Two connectors on one table: their batches go in primary-key order, the pushes in shuffled orders.
    const connectors = await Promise.all(
      [0, 1].map(() =>
        saveConnector(t.db.pool, 'acme', {
          vertical: 'mixed',
          connection_config: { dsn: source.url },
          settings: { table: 'products', batch_size: 500 },
        }),
      ),
    );
    const pulls = connectors.map(async (id) => {
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 2; i++) {
        const { connector, runId } = await newRun(t.db.pool, id, 'full');
        outcomes.push(
          await timed(async () => {
            try {
              const r = await runPull({ pool: t.db.pool, connector, runId, mode: 'full', signal: new AbortController().signal });
              return { status: r.rowsRead === 3000 ? 200 : 500, body: JSON.stringify(r) };
            } catch (err) {
              return { status: 500, body: String(err) };
            }
          }),
        );
      }
      return outcomes;
    });
    const pushes = Array.from({ length: 4 }, async (_, client) => {
      const outcomes: Outcome[] = [];
      for (let round = 0; round < 3; round++) {
        const keys = shuffled(ids, 1000 + client * 10 + round).slice(0, 1500);
        outcomes.push(
          await push(
            'mixed',
            keys.map((k) => ({ name: `pushed ${k}`, source_id: k, tag: `c${client}r${round}` })),
          ),
        );
      }
      return outcomes;
    });
    const [pulled, pushed] = await Promise.all([Promise.all(pulls), Promise.all(pushes)]);
    expect(report('2 connectors x 2 full pulls of 3,000 rows', pulled.flat())).toEqual([]);
    expect(report('4 clients x 3 shuffled pushes of 1,500 of the same 3,000 ids', pushed.flat())).toEqual([]);
    const rows = await stored('mixed');
    expect(rows.size).toBe(3000);
    for (const [id, e] of rows) {
      const fromPull = e.name === `pulled ${id}` && e.vertical_data.tag === 'pull';
      expect(fromPull || (e.name === `pushed ${id}` && /^c[0-3]r[0-2]$/.test(e.vertical_data.tag!)), id).toBe(true);
    }
    const { rows: runs } = await t.db.pool.query<{ rows_read: string; inserted: string; updated: string; unchanged: string }>(
      'select rows_read, inserted, updated, unchanged from connector_runs where connector_id = any($1)',
      [connectors],
    );
    for (const r of runs) expect(Number(r.inserted) + Number(r.updated) + Number(r.unchanged)).toBe(Number(r.rows_read));
  });
});

describe('withRetriedTransaction', () => {
  /** Two transactions that lock two rows in opposite orders, each waiting until the other holds its first row. */
  async function crossedLocks(run: typeof withTransaction) {
    await t.db.pool.query('create table if not exists crossed (id int primary key, n int not null)');
    await t.db.pool.query('truncate crossed; insert into crossed values (1, 0), (2, 0)');
    let attempts = 0;
    let arrived = 0;
    let release!: () => void;
    const bothHoldOne = new Promise<void>((r) => (release = r));
    const lockBoth = (first: number, second: number) =>
      run(t.db.pool, async (c) => {
        attempts++;
        await c.query('update crossed set n = n + 1 where id = $1', [first]);
        if (++arrived === 2) release();
        await bothHoldOne;
        await c.query('update crossed set n = n + 1 where id = $1', [second]);
      });
    const results = await Promise.allSettled([lockBoth(1, 2), lockBoth(2, 1)]);
    const { rows } = await t.db.pool.query<{ n: number }>('select n from crossed order by id');
    return { results, attempts, counts: rows.map((r) => r.n) };
  }

  test('a plain transaction loses a deadlock; the retried one runs again and both writes land once', async () => {
    const plain = await crossedLocks(withTransaction);
    expect(plain.results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['40P01']);
    const retried = await crossedLocks(withRetriedTransaction);
    expect(retried.results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(retried.attempts).toBe(3);
    expect(retried.counts).toEqual([2, 2]);
  });

  test('other errors are not retried, and a conflict that never clears gives up after the attempts', async () => {
    let calls = 0;
    await expect(withRetriedTransaction(t.db.pool, async (c) => (calls++, c.query('select 1/0')))).rejects.toMatchObject({ code: '22012' });
    expect(calls).toBe(1);
    calls = 0;
    const conflict = Object.assign(new Error('could not serialize access'), { code: '40001' });
    await expect(
      withRetriedTransaction(t.db.pool, async () => (calls++, Promise.reject(conflict)), { attempts: 3, baseDelayMs: 1 }),
    ).rejects.toBe(conflict);
    expect(calls).toBe(3);
  });
});
