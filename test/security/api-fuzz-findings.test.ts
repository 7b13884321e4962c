import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, type PullJobData } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { bearer, testApi, type TestApi } from '../helpers/api';
import { expectDeclared } from '../helpers/openapi-conformance';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let key: string;
const ids = { ingestion: '', entity: '', connector: '' };

beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({}, queue);
  // The app is not listening yet: a route of the test's own hands the database values no check has seen
  // (base64 in the query, so the text check cannot catch them first).
  t.app.get('/api/v1/test-only/cast', { config: { scopes: ['read'] } }, async (req) => {
    const { value, type } = req.query as { value: string; type: string };
    return (await t.app.pool.query(`select $1::${type === 'int' ? 'int' : 'text'} as v`, [Buffer.from(value, 'base64').toString()]))
      .rows[0];
  });
  key = await t.key('acme', ['admin']);
  const batch = await call('POST', '/ingest/retail/product/batch', { records: [{ name: 'Widget', source_id: 'W-1' }, { name: '' }] });
  ids.ingestion = batch.json().ingestion_id;
  ids.entity = batch.json().entity_ids[0];
  const connector = await call('POST', '/connectors', {
    name: 'src',
    connector_type: 'postgresql',
    connection_config: { dsn: source.url },
    vertical: 'retail',
    entity_type: 'product',
    table: 'products',
  });
  ids.connector = connector.json().id;
  expect([batch.statusCode, connector.statusCode]).toEqual([200, 201]);
});
afterAll(async () => {
  await t.close();
  await queue.close();
  conn.disconnect();
  await redis.stop();
  await source.drop();
});

function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) {
  return t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: bearer(key),
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

/** A 422 with `{detail: [{loc, msg, type}]}` that names `loc`, declared for the operation in the OpenAPI document. */
async function expectRefusedAt(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  template: string,
  loc: Array<string | number>,
  payload?: unknown,
) {
  const res = await call(method, url, payload);
  expect(res.statusCode, res.body).toBe(422);
  expect(res.json().detail).toEqual(
    expect.arrayContaining([expect.objectContaining({ loc, msg: expect.any(String), type: expect.any(String) })]),
  );
  expectDeclared(t.app, method, `/api/v1${template}`, res);
  return res;
}

const count = async (table: string) => (await t.db.pool.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n;

describe('the 5xx the fuzzer found are 422s naming the value', () => {
  test('GET /ingestions/{id}/errors?cursor=99999999999999999999', async () => {
    await expectRefusedAt('GET', `/ingestions/${ids.ingestion}/errors?cursor=99999999999999999999`, '/ingestions/{id}/errors', [
      'querystring',
      'cursor',
    ]);
  });
  test('GET /schemas?vertical=%00', async () => {
    await expectRefusedAt('GET', '/schemas?vertical=%00', '/schemas', ['querystring', 'vertical']);
  });
  test('GET /entities?source_id=%00', async () => {
    await expectRefusedAt('GET', '/entities?source_id=%00', '/entities', ['querystring', 'source_id']);
  });
  test('POST /auth/keys with expires_at 0002-01-17T18:28:00.808499-23:38, or a NUL in the name', async () => {
    const before = await count('api_keys');
    const expiresAt = '0002-01-17T18:28:00.808499-23:38';
    await expectRefusedAt('POST', '/auth/keys', '/auth/keys', ['body', 'expires_at'], {
      name: 'k',
      scopes: ['read'],
      expires_at: expiresAt,
    });
    await expectRefusedAt('POST', '/auth/keys', '/auth/keys', ['body', 'name'], { name: 'a\u0000b', scopes: ['read'] });
    expect(await count('api_keys')).toBe(before);
  });
  test('POST /schemas with a NUL in the schema', async () => {
    await expectRefusedAt('POST', '/schemas', '/schemas', ['body', 'schema', 'properties', 'a', 'description'], {
      vertical: 'retail',
      entity_type: 'product',
      schema: { type: 'object', properties: { a: { description: 'x\u0000' } } },
    });
    expect(await count('schemas')).toBe(0);
  });
});

describe('text PostgreSQL cannot store, anywhere in a request: 422 at its location, nothing stored', () => {
  // NUL anywhere, and UTF-16 surrogates that are no character (alone, or a low one before a high one).
  const BAD = ['\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\udc00\ud800'];

  test.each(BAD.map((s) => [JSON.stringify(s), s]))('in body strings and keys: %s', async (_label, bad) => {
    const before = { keys: await count('api_keys'), schemas: await count('schemas'), connectors: await count('connectors') };
    await expectRefusedAt('POST', '/auth/keys', '/auth/keys', ['body', 'name'], { name: bad, scopes: ['read'] });
    await expectRefusedAt('POST', '/schemas', '/schemas', ['body', 'schema', 'title'], {
      vertical: 'v',
      entity_type: 'e',
      schema: { title: bad },
    });
    const badKey = { vertical: 'v', entity_type: 'e', schema: { properties: { [bad]: {} } } };
    await expectRefusedAt('POST', '/schemas', '/schemas', ['body', 'schema', 'properties', '(key)'], badKey);
    const connector = {
      name: 'n',
      connector_type: 'postgresql',
      connection_config: { dsn: source.url },
      vertical: 'v',
      entity_type: 'e',
      table: 'products',
    };
    await expectRefusedAt('POST', '/connectors', '/connectors', ['body', 'name'], { ...connector, name: bad });
    await expectRefusedAt('POST', '/connectors', '/connectors', ['body', 'fields', 'rename', 'a'], {
      ...connector,
      fields: { rename: { a: bad } },
    });
    const badDsn = { ...connector, connection_config: { dsn: source.url + bad } };
    await expectRefusedAt('POST', '/connectors', '/connectors', ['body', 'connection_config', 'dsn'], badDsn);
    await expectRefusedAt('PATCH', `/connectors/${ids.connector}`, '/connectors/{id}', ['body', 'query'], {
      table: undefined,
      query: `select 1 ${bad}`,
    });
    await expectRefusedAt('POST', `/connectors/${ids.connector}/pull`, '/connectors/{id}/pull', ['body', 'mode'], { mode: bad });
    expect({ keys: await count('api_keys'), schemas: await count('schemas'), connectors: await count('connectors') }).toEqual(before);
    // The same requests with clean text are accepted: the refusal was the text's alone.
    expect((await call('POST', '/auth/keys', { name: 'clean 😀 ünï', scopes: ['read'] })).statusCode).toBe(201);
    expect(
      (await call('POST', '/schemas', { vertical: 'v', entity_type: 'e', schema: { title: 'clean 😀', properties: { '😀': {} } } }))
        .statusCode,
    ).toBe(201);
  });

  test('deep inside a body nested 5,000 levels: still a 422, not a stack overflow', async () => {
    const schema = '{"not":'.repeat(5000) + '{"description":"\\u0000"}' + '}'.repeat(5000);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/schemas',
      headers: { ...bearer(key), 'content-type': 'application/json' },
      payload: `{"vertical": "deep", "entity_type": "e", "schema": ${schema}}`,
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().detail[0].loc).toEqual(['body', 'schema', ...Array(5000).fill('not'), 'description']);
  });

  test.each([
    ['/entities?source_id=%00', '/entities', ['querystring', 'source_id']],
    ['/entities?source_id=a%00b&vertical=retail', '/entities', ['querystring', 'source_id']],
    ['/schemas?vertical=%00', '/schemas', ['querystring', 'vertical']],
    ['/connectors?anything=%00', '/connectors', ['querystring', 'anything']],
    [`/ingestions/${'x'}%00/errors`, '/ingestions/{id}/errors', ['params', 'id']],
    ['/connectors/%00', '/connectors/{id}', ['params', 'id']],
    ['/schemas/%00/product', '/schemas/{vertical}/{entity_type}', ['params', 'vertical']],
    ['/entities/a%00', '/entities/{id}', ['params', 'id']],
  ] as const)('in the query or the path: GET %s', async (url, template, loc) => {
    await expectRefusedAt('GET', url, template, [...loc]);
  });

  test('bytes that are not UTF-8 in the query or path never reach the database as text: no 5xx', async () => {
    const urls = [
      '/entities?source_id=%ED%A0%80',
      '/entities?source_id=%FF%FE',
      '/schemas?vertical=%C0%80',
      '/schemas/%ED%A0%80/x',
      '/entities?source_id=%',
    ];
    for (const url of urls) {
      const res = await call('GET', url);
      expect(res.statusCode, `${url}: ${res.body}`).toBeLessThan(500);
    }
  });
});

describe("the router's own refusals answer in the API's shape and are declared", () => {
  const long = 'x'.repeat(101);
  test.each([
    ['GET', `/queues/${long}/jobs`, '/queues/{name}/jobs', 414],
    ['GET', `/queues/pulls/jobs/${long}`, '/queues/{name}/jobs/{id}', 414],
    ['POST', `/queues/${long}/pause`, '/queues/{name}/pause', 414],
    ['GET', `/connectors/${long}`, '/connectors/{id}', 414],
    ['GET', '/connectors/%E0%A4%A', '/connectors/{id}', 400],
  ] as const)('%s %s: %i with {detail}', async (method, url, template, status) => {
    const res = await call(method, url);
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json()).toEqual({ detail: expect.any(String) });
    expect(res.headers['x-request-id']).toMatch(/^req_/);
    expectDeclared(t.app, method, `/api/v1${template}`, res);
  });
});

describe('numbers and dates outside what the database holds: 422', () => {
  test.each(['99999999999999999999', '9223372036854775808', '-1', '1e3', '0x10', ' 1', ''])('DLQ cursor %j', async (cursor) => {
    const url = `/ingestions/${ids.ingestion}/errors?cursor=${encodeURIComponent(cursor)}`;
    await expectRefusedAt('GET', url, '/ingestions/{id}/errors', ['querystring', 'cursor']);
  });

  test('the largest cursor a bigserial can hold is a valid, empty page', async () => {
    const res = await call('GET', `/ingestions/${ids.ingestion}/errors?cursor=9223372036854775807`);
    expect(res.json()).toEqual({ items: [], next_cursor: null });
    expectDeclared(t.app, 'GET', '/api/v1/ingestions/{id}/errors', res);
  });

  test.each(['1e400', '99999999999999999999', '-1', '0', '1.5', 'NaN', 'Infinity', ''])('limit %j', async (limit) => {
    const q = `limit=${encodeURIComponent(limit)}`;
    await expectRefusedAt('GET', `/ingestions/${ids.ingestion}/errors?${q}`, '/ingestions/{id}/errors', ['querystring', 'limit']);
    await expectRefusedAt('GET', `/entities?${q}`, '/entities', ['querystring', 'limit']);
    await expectRefusedAt('GET', `/connectors/${ids.connector}/runs?${q}`, '/connectors/{id}/runs', ['querystring', 'limit']);
  });

  test.each([
    ['an offset PostgreSQL refuses, in year 2', '0002-01-17T18:28:00.808499-23:38'],
    ['in the past', '1775-12-08T10:53:54-20:31'],
    ['a leap second', '2030-06-30T23:59:60Z'],
    ['31 February', '2030-02-31T00:00:00Z'],
    ['after 9999 in UTC', '9999-12-31T23:59:59-23:59'],
    ['a six-digit year', '+275760-09-13T00:00:00Z'],
    ['without a time zone', '2030-01-01T00:00:00'],
    ['a date alone', '2030-01-01'],
  ])('expires_at %s', async (_what, expiresAt) => {
    await expectRefusedAt('POST', '/auth/keys', '/auth/keys', ['body', 'expires_at'], {
      name: 'k',
      scopes: ['read'],
      expires_at: expiresAt,
    });
  });

  test.each([
    ['2031-06-01T12:00:00.123+14:00', '2031-05-31T22:00:00.123Z'],
    // An offset PostgreSQL refuses (beyond ±15:59) is converted here, not passed on.
    ['2099-12-08T10:53:54-20:31', '2099-12-09T07:24:54.000Z'],
  ])('a future expiry in any offset is kept as its instant: %s', async (given, instant) => {
    const res = await call('POST', '/auth/keys', { name: 'k', scopes: ['read'], expires_at: given });
    expect(res.statusCode).toBe(201);
    expectDeclared(t.app, 'POST', '/api/v1/auth/keys', res);
    expect(new Date(res.json().expires_at).toISOString()).toBe(instant);
  });

  test('numbers that are not finite in a body (1e400 in JSON) are refused where they are', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/connectors',
      headers: { ...bearer(key), 'content-type': 'application/json' },
      payload: `{"name": "n", "connector_type": "postgresql", "connection_config": {"dsn": "${source.url}"}, "vertical": "v", "entity_type": "e",
        "table": "products", "batch_size": 1e400}`,
    });
    expect(res.statusCode).toBe(422);
    const problem = expect.objectContaining({ loc: ['body', 'batch_size'], type: 'value_error.number.not_finite' });
    expect(res.json().detail).toEqual(expect.arrayContaining([problem]));
  });
});

describe('whatever the checks miss, the database refusing a value is a 422, never a 500', () => {
  test.each([
    ['an integer out of range', 'int', '99999999999'],
    ['not an integer', 'int', 'twelve'],
    ['NUL in text', 'text', 'a\u0000b'],
  ])('%s', async (_what, type, value) => {
    const cast = (v: string) =>
      t.app.inject({
        method: 'GET',
        url: '/api/v1/test-only/cast',
        query: { type, value: Buffer.from(v).toString('base64') },
        headers: bearer(key),
      });
    const res = await cast(value);
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json().detail[0]).toMatchObject({ loc: ['request'], type: expect.stringMatching(/^value_error\.sqlstate_22/) });
    expect((await cast('12')).statusCode).toBe(200);
  });
});

describe('the OpenAPI document declares what every operation answers', () => {
  test('each operation lists a success, 422 and 500; authenticated ones 401 and 403; with a path parameter 404; all errors as {detail}', () => {
    type Response = { content?: Record<string, { schema: { properties?: Record<string, unknown> } }> };
    const doc = t.app.swagger() as unknown as { paths: Record<string, Record<string, { responses: Record<string, Response> }>> };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    );
    expect(operations.length).toBeGreaterThan(20);
    for (const { path, method, op } of operations.filter((o) => !o.path.includes('test-only'))) {
      const statuses = Object.keys(op.responses);
      const where = `${method.toUpperCase()} ${path}`;
      expect(
        statuses.some((s) => s.startsWith('2')),
        where,
      ).toBe(true);
      expect(statuses, where).toEqual(expect.arrayContaining(['401', '403', '422', '500']));
      if (path.includes('{')) expect(statuses, where).toContain('404');
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        expect(op.responses[status]!.content?.['application/json']?.schema.properties, `${where} ${status}`).toHaveProperty('detail');
      }
    }
  });
});
