import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { VERTICALS_SQL } from '../../src/api/routes/verticals';
import { bearer, testApi, type TestApi } from '../helpers/api';

/**
 * GET /verticals counts a tenant's entities, which costs database time in proportion to them. A flood from one
 * read-only key must not multiply that cost, and no answer may miss a write committed before its request.
 */

const BIG = 150_000;
let t: TestApi;
let big: { search: string; ingest: string; tenant: string };
let small: string;
let counts: number;
/** Counts of the tenant running at this moment, and the most there ever were at once. */
let active = 0;
let mostAtOnce = 0;

beforeAll(async () => {
  t = await testApi();
  big = { search: await t.key('big', ['search']), ingest: await t.key('big', ['ingest']), tenant: '' };
  big.tenant = (await t.db.pool.query<{ id: string }>("select id from tenants where name = 'big'")).rows[0]!.id;
  await t.db.pool.query(
    `insert into entities (tenant_id, vertical, entity_type, name, dedup_key, vertical_data, content_hash)
     select $1, 'v' || (i % 2), 't' || (i % 3), 'n', 's:' || i, '{}', 'h' from generate_series(1, ${BIG}) i`,
    [big.tenant],
  );
  await t.db.pool.query('vacuum analyze entities');
  small = await t.key('small', ['ingest', 'read']);
  const batch = { records: [1, 2, 3].map((i) => ({ name: `s${i}`, source_id: `s${i}` })) };
  await t.app.inject({ method: 'POST', url: '/api/v1/ingest/shop/item/batch', headers: bearer(small), payload: batch });
  // Every run of the counting statement, on the real database.
  const query = t.db.pool.query.bind(t.db.pool);
  vi.spyOn(t.db.pool, 'query').mockImplementation(((text: unknown, ...rest: unknown[]) => {
    if (text !== VERTICALS_SQL) return (query as (...a: unknown[]) => unknown)(text, ...rest);
    counts++;
    mostAtOnce = Math.max(mostAtOnce, ++active);
    return (query as (...a: unknown[]) => Promise<unknown>)(text, ...rest).finally(() => active--);
  }) as typeof t.db.pool.query);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await t?.close();
});

const verticals = async (key: string) => {
  const res = await t.app.inject({ method: 'GET', url: '/api/v1/verticals', headers: bearer(key) });
  expect(res.statusCode).toBe(200);
  return res.json().verticals as Array<{ vertical: string; entity_count: number }>;
};
const total = (v: Array<{ entity_count: number }>) => v.reduce((n, x) => n + x.entity_count, 0);

describe('GET /verticals under a flood', () => {
  test('40 requests of one tenant at once: every answer right, one count of the tenant at a time, a few in all', async () => {
    counts = 0;
    mostAtOnce = 0;
    const answers = await Promise.all(Array.from({ length: 40 }, () => verticals(big.search)));
    for (const a of answers) expect(total(a)).toBe(BIG);
    expect(answers.every((a) => JSON.stringify(a) === JSON.stringify(answers[0]))).toBe(true);
    // Requests arriving while a count runs share the next one: how many counts there are depends on how spread out the
    // 40 arrivals are against one count's time (two when they all arrive within one count), never one each.
    expect(mostAtOnce).toBe(1);
    expect(counts).toBeLessThanOrEqual(10);
  });

  test('a write committed before a request is in its answer, even while an earlier count of the tenant runs', async () => {
    for (let round = 0; round < 5; round++) {
      const before = total(await verticals(big.search));
      const earlier = verticals(big.search);
      const batch = { records: [{ name: `late-${round}`, source_id: `late-${round}` }] };
      const written = await t.app.inject({
        method: 'POST',
        url: '/api/v1/ingest/v0/t0/batch',
        headers: bearer(big.ingest),
        payload: batch,
      });
      expect(written.statusCode).toBe(200);
      const later = await verticals(big.search);
      expect({ round, later: total(later) }).toEqual({ round, later: before + 1 });
      expect([before, before + 1]).toContain(total(await earlier));
    }
  });

  test("tenants never share a count: each answer holds its own tenant's entities", async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => verticals(i % 2 ? small : big.search)));
    answers.forEach((a, i) => {
      if (i % 2) expect(a).toEqual([expect.objectContaining({ vertical: 'shop', entity_count: 3 })]);
      else expect(a.map((v) => v.vertical)).toEqual(['v0', 'v1']);
    });
  });
});
