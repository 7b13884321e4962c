import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildApp } from '../../src/api/app';
import { SecretBox } from '../../src/crypto/secret-box';
import { createPool } from '../../src/db/pool';
import { bearer, testApi, type TestApi } from '../helpers/api';

let t: TestApi;
let key: string;
beforeAll(async () => {
  t = await testApi();
  key = await t.key('acme', ['ingest']);
});
afterAll(() => t.close());

test('40 schemas registered at once for one vertical/entity_type through two API processes: each gets its own version', async () => {
  // Without ordering, about half of these failed with a duplicate version (a 500).
  const pool = createPool(t.db.url, 10);
  const second = await buildApp({ pool, config: t.config, box: SecretBox.fromEnv({}, true) });
  try {
    const register = (i: number) =>
      (i % 2 ? second : t.app).inject({
        method: 'POST',
        url: '/api/v1/schemas',
        headers: bearer(key),
        payload: { vertical: 'retail', entity_type: 'product', schema: { title: `v${i}` } },
      });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => register(i)));
    expect(results.map((r) => r.statusCode)).toEqual(Array(40).fill(201));
    expect(results.map((r) => r.json().version).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const other = await t.app.inject({
      method: 'POST',
      url: '/api/v1/schemas',
      headers: bearer(key),
      payload: { vertical: 'retail', entity_type: 'order', schema: {} },
    });
    expect(other.json().version).toBe(1);
  } finally {
    await second.close();
    await pool.end();
  }
});
