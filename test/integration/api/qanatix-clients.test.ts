import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../../src/api/app';
import { VERTICALS_SQL } from '../../../src/api/routes/verticals';
import { createApiKey, ensureTenant, type Scope } from '../../../src/auth/api-keys';
import { loadConfig } from '../../../src/config';
import { SecretBox } from '../../../src/crypto/secret-box';
import { expectDeclared } from '../../helpers/openapi-conformance';
import { bearer, TEST_SALT } from '../../helpers/api';
import { freePort, privateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { runCli, spawnRole, waitFor } from '../../helpers/worker-process';

/**
 * What QANATIX's clients send and expect (shared QANATIX reference, sections 4, 6, 9 and 10), sent exactly as the
 * reference shows it: stream responses with buffer_size and flushed, key rotation, the `entities` and `search`
 * scopes, and GET /verticals.
 */

let db: TestDatabase;
let app: FastifyInstance;
let logged = '';

beforeAll(async () => {
  db = await freshDatabase();
  const sink = new Writable({
    write(chunk, _enc, done) {
      logged += String(chunk);
      done();
    },
  });
  // Debug level: every line the API can write about a request is captured, to look for secrets in it.
  const config = { ...loadConfig({ API_KEY_SALT: TEST_SALT }), databaseUrl: db.url };
  app = await buildApp({ pool: db.pool, config, box: SecretBox.fromEnv({}, true), logger: pino({ level: 'debug' }, sink) });
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

async function keyOf(tenant: string, scopes: Scope[]): Promise<string> {
  return (await createApiKey(db.pool, TEST_SALT, await ensureTenant(db.pool, tenant), 'test', scopes)).key;
}
const send = (key: string, method: InjectOptions['method'], url: string, payload?: string | object, headers: Record<string, string> = {}) =>
  app.inject({ method, url: `/api/v1${url}`, headers: { ...bearer(key), ...headers }, ...(payload !== undefined ? { payload } : {}) });
const ndjson = { 'content-type': 'application/x-ndjson' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stream responses: buffer_size and flushed', () => {
  test('the reference body: accepted 3, parse_errors 0, buffer_size 0 and flushed true, because the answer waits for the write', async () => {
    const key = await keyOf('streams', ['ingest', 'read']);
    const body = [
      '{"name": "Sensor A - Reading 1", "temperature": 22.5, "humidity": 45}',
      '{"name": "Sensor A - Reading 2", "temperature": 22.7, "humidity": 44}',
      '{"name": "Sensor A - Reading 3", "temperature": 22.6, "humidity": 46}',
    ].join('\n');
    const res = await send(key, 'POST', '/ingest/iot/sensor/stream', body, ndjson);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 3, parse_errors: 0, buffer_size: 0, flushed: true });
    expectDeclared(app, 'POST', '/api/v1/ingest/{vertical}/{entity_type}/stream', res);
    // buffer_size 0 is the truth: every record is readable the moment the answer arrives.
    const listed = (await send(key, 'GET', '/entities?vertical=iot&entity_type=sensor')).json();
    expect(listed.items).toHaveLength(3);
  });

  test('an empty stream, or blank lines only: nothing written, flushed false', async () => {
    const key = await keyOf('streams', ['ingest']);
    for (const body of ['', '\n\n  \n']) {
      const res = await send(key, 'POST', '/ingest/iot/empty/stream', body, ndjson);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ accepted: 0, parse_errors: 0, buffer_size: 0, flushed: false });
    }
  });

  test('only unparsable lines: their DLQ entries are written, so flushed is true', async () => {
    const key = await keyOf('streams', ['ingest']);
    const res = await send(key, 'POST', '/ingest/iot/broken/stream', '{not json\n[1,\n', ndjson);
    expect(res.json()).toMatchObject({ accepted: 0, parse_errors: 2, buffer_size: 0, flushed: true });
    const { rows } = await db.pool.query('select count(*)::int as n from ingestion_errors where ingestion_id = $1', [
      res.json().ingestion_id,
    ]);
    expect(rows[0].n).toBe(2);
  });

  test('a stream of several batches (2,500 records, batches of 1,000): all written before the answer', async () => {
    const key = await keyOf('streams', ['ingest']);
    const body = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ name: `r${i}`, source_id: `s${i}` })).join('\n');
    const res = await send(key, 'POST', '/ingest/iot/many/stream', body, ndjson);
    expect(res.json()).toMatchObject({ accepted: 2500, buffer_size: 0, flushed: true });
    const { rows } = await db.pool.query("select count(*)::int as n from entities where vertical = 'iot' and entity_type = 'many'");
    expect(rows[0].n).toBe(2500);
  });
});

describe('scopes entities and search', () => {
  test('the reference key body {"name": "production-search", "scopes": ["search"], "expires_at": …} is accepted as sent', async () => {
    const admin = await keyOf('scopes', ['admin']);
    const expiresAt = `${new Date().getUTCFullYear() + 1}-01-01T00:00:00Z`;
    const res = await send(admin, 'POST', '/auth/keys', { name: 'production-search', scopes: ['search'], expires_at: expiresAt });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      name: 'production-search',
      scopes: ['search'],
      message: 'Store this key securely — it cannot be retrieved again.',
    });
    expect(new Date(res.json().expires_at).toISOString()).toBe(new Date(expiresAt).toISOString());
    expect(res.json().key).toMatch(/^sk_live_[0-9a-f]{64}$/);
    expectDeclared(app, 'POST', '/api/v1/auth/keys', res);
    expect((await send(admin, 'POST', '/auth/keys', { name: 'crud', scopes: ['entities'] })).statusCode).toBe(201);
  });

  test('entities and search reach the entity reads and the vertical summary, and nothing else', async () => {
    const writer = await keyOf('scoped', ['ingest']);
    const batch = (await send(writer, 'POST', '/ingest/shop/item/batch', { records: [{ name: 'Bolt', source_id: 'b-1' }] })).json();
    const entityId = batch.entity_ids[0];
    const reads = [`/entities`, `/entities/${entityId}`, '/entities?vertical=shop&entity_type=item&source_id=b-1', '/verticals'];
    const elsewhere: Array<[InjectOptions['method'], string, object?]> = [
      ['POST', '/ingest/shop/item/batch', { records: [{ name: 'x' }] }],
      ['GET', `/ingestions/${batch.ingestion_id}`],
      ['GET', `/ingestions/${batch.ingestion_id}/errors`],
      ['GET', '/schemas'],
      ['POST', '/schemas', { vertical: 'shop', entity_type: 'item', schema: { type: 'object' } }],
      ['GET', '/connectors'],
      ['GET', '/auth/keys'],
      ['POST', '/auth/keys', { name: 'more', scopes: ['admin'] }],
      ['GET', '/queues'],
    ];
    for (const scope of ['entities', 'search'] as const) {
      const key = await keyOf('scoped', [scope]);
      for (const url of reads)
        expect({ scope, url, status: (await send(key, 'GET', url)).statusCode }).toEqual({ scope, url, status: 200 });
      expect((await send(key, 'GET', `/entities/${entityId}`)).json().name).toBe('Bolt');
      for (const [method, url, payload] of elsewhere) {
        const res = await send(key, method, url, payload);
        expect({ scope, method, url, status: res.statusCode }).toEqual({ scope, method, url, status: 403 });
      }
    }
    // read still reads; connectors still does not reach entities.
    expect((await send(await keyOf('scoped', ['read']), 'GET', '/entities')).statusCode).toBe(200);
    expect((await send(await keyOf('scoped', ['connectors']), 'GET', '/entities')).statusCode).toBe(403);
  });
});

describe('POST /auth/keys/{key_id}/rotate', () => {
  async function keyPair(tenant: string) {
    const admin = await keyOf(tenant, ['admin']);
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const created = (
      await send(admin, 'POST', '/auth/keys', {
        name: 'deploy',
        scopes: ['ingest', 'read'],
        expires_at: expiresAt,
        rate_limit_per_minute: 77,
      })
    ).json();
    return { admin, created };
  }
  const works = async (key: string) => (await send(key, 'GET', '/entities')).statusCode === 200;

  test('as the reference shows it (no body): same id, name, scopes and expiry, a new key; the old one is invalid at once', async () => {
    const { admin, created } = await keyPair('rotate-a');
    expect(await works(created.key)).toBe(true);
    const res = await send(admin, 'POST', `/auth/keys/${created.id}/rotate`);
    expect(res.statusCode).toBe(200);
    expectDeclared(app, 'POST', '/api/v1/auth/keys/{id}/rotate', res);
    const rotated = res.json();
    expect(rotated).toMatchObject({
      id: created.id,
      name: 'deploy',
      scopes: ['ingest', 'read'],
      expires_at: created.expires_at,
      rate_limit_per_minute: 77,
      previous_key_expires_at: null,
      message: 'Old key is now invalid. Update your applications immediately.',
    });
    expect(rotated.key).toMatch(/^sk_live_[0-9a-f]{64}$/);
    expect(rotated.key).not.toBe(created.key);
    expect(rotated.key_prefix).toBe(rotated.key.slice(0, 12));
    expect(await works(created.key)).toBe(false);
    expect(await works(rotated.key)).toBe(true);
    // The same key in the tenant's list, under the same id, and nowhere its secret.
    const listed = (await send(admin, 'GET', '/auth/keys')).json();
    expect(listed.filter((k: { id: string }) => k.id === created.id)).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(rotated.key);
    // With an empty JSON object as the body too.
    const again = await send(admin, 'POST', `/auth/keys/${created.id}/rotate`, {});
    expect(again.statusCode).toBe(200);
    expect(await works(rotated.key)).toBe(false);
    expect(await works(again.json().key)).toBe(true);
  });

  test('with {"grace_seconds": 2}: the old key works until the grace ends, then is refused', async () => {
    const { admin, created } = await keyPair('rotate-b');
    const before = Date.now();
    const res = await send(admin, 'POST', `/auth/keys/${created.id}/rotate`, { grace_seconds: 2 });
    expect(res.statusCode).toBe(200);
    expectDeclared(app, 'POST', '/api/v1/auth/keys/{id}/rotate', res);
    const rotated = res.json();
    const until = Date.parse(rotated.previous_key_expires_at);
    expect(until).toBeGreaterThanOrEqual(before + 1000);
    expect(until).toBeLessThanOrEqual(Date.now() + 2000 + 1000);
    expect(rotated.message).toBe(`The old key stays valid until ${new Date(until).toISOString()}. Update your applications before then.`);
    expect(await works(created.key)).toBe(true);
    expect(await works(rotated.key)).toBe(true);
    expect(
      (await send(admin, 'GET', '/auth/keys')).json().find((k: { id: string }) => k.id === created.id).previous_key_expires_at,
    ).not.toBeNull();
    await sleep(Math.max(0, until - Date.now()) + 300);
    expect(await works(created.key)).toBe(false);
    expect(await works(rotated.key)).toBe(true);
    expect(
      (await send(admin, 'GET', '/auth/keys')).json().find((k: { id: string }) => k.id === created.id).previous_key_expires_at,
    ).toBeNull();
  });

  test('rotating again ends the earlier grace at once; revoking ends every secret of the key', async () => {
    const { admin, created } = await keyPair('rotate-c');
    const first = (await send(admin, 'POST', `/auth/keys/${created.id}/rotate`, { grace_seconds: 600 })).json();
    const second = (await send(admin, 'POST', `/auth/keys/${created.id}/rotate`, { grace_seconds: 600 })).json();
    expect([await works(created.key), await works(first.key), await works(second.key)]).toEqual([false, true, true]);
    expect((await send(admin, 'DELETE', `/auth/keys/${created.id}`)).statusCode).toBe(204);
    expect([await works(first.key), await works(second.key)]).toEqual([false, false]);
    expect((await send(admin, 'POST', `/auth/keys/${created.id}/rotate`)).statusCode).toBe(404);
  });

  test("another tenant's key id is 404, exactly like an id that does not exist; its key keeps working", async () => {
    const { created } = await keyPair('rotate-victim');
    const intruder = await keyOf('rotate-intruder', ['admin']);
    const theirs = await send(intruder, 'POST', `/auth/keys/${created.id}/rotate`, { grace_seconds: 0 });
    const nowhere = await send(intruder, 'POST', '/auth/keys/00000000-0000-4000-8000-000000000000/rotate', { grace_seconds: 0 });
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json()).toEqual(nowhere.json());
    expect(await works(created.key)).toBe(true);
  });

  test('only admin keys rotate (403 otherwise); an expired key is refused with 409', async () => {
    const { admin, created } = await keyPair('rotate-d');
    const refused = await send(created.key, 'POST', `/auth/keys/${created.id}/rotate`);
    expect(refused.statusCode).toBe(403);
    await db.pool.query("update api_keys set expires_at = now() - interval '1 second' where id = $1", [created.id]);
    const expired = await send(admin, 'POST', `/auth/keys/${created.id}/rotate`);
    expect(expired.statusCode).toBe(409);
    expect(expired.json().detail).toMatch(/expired at .*create a new key/);
    expectDeclared(app, 'POST', '/api/v1/auth/keys/{id}/rotate', expired);
  });

  test('an admin key may rotate itself: the answer comes back, and from then on only the new secret works', async () => {
    const admin = await keyOf('rotate-self', ['admin']);
    const keys = (await send(admin, 'GET', '/auth/keys')).json();
    const res = await send(admin, 'POST', `/auth/keys/${keys[0].id}/rotate`);
    expect(res.statusCode).toBe(200);
    expect((await send(admin, 'GET', '/auth/keys')).statusCode).toBe(401);
    expect((await send(res.json().key, 'GET', '/auth/keys')).statusCode).toBe(200);
  });

  test('two rotations at once: both answer, and exactly one of the two new secrets works', async () => {
    const { admin, created } = await keyPair('rotate-e');
    const [a, b] = await Promise.all([
      send(admin, 'POST', `/auth/keys/${created.id}/rotate`),
      send(admin, 'POST', `/auth/keys/${created.id}/rotate`),
    ]);
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    const working = [await works(a.json().key), await works(b.json().key)];
    expect(working.filter(Boolean)).toHaveLength(1);
    expect(await works(created.key)).toBe(false);
  });

  test('grace_seconds must be a whole number from 0 to 86400: each wrong value is a 422 at body.grace_seconds and changes nothing', async () => {
    const { admin, created } = await keyPair('rotate-f');
    // Scalars are coerced as everywhere in the API ("30" is 30, null is the default 0); these cannot be.
    for (const grace of [-1, 86_401, 1.5, 'soon', '', [], {}, 1e12, [5]]) {
      const res = await send(admin, 'POST', `/auth/keys/${created.id}/rotate`, { grace_seconds: grace });
      expect({ grace, status: res.statusCode }).toEqual({ grace, status: 422 });
      expect(res.json().detail[0].loc, JSON.stringify(grace)).toEqual(['body', 'grace_seconds']);
    }
    const unknown = await send(admin, 'POST', `/auth/keys/${created.id}/rotate`, { grace: 5 });
    expect(unknown.statusCode).toBe(422);
    expect(await works(created.key)).toBe(true);
  });

  test('no secret reaches a log line: neither the old key, nor the new one, nor their hashes', async () => {
    const { admin, created } = await keyPair('rotate-g');
    const rotated = (await send(admin, 'POST', `/auth/keys/${created.id}/rotate`, { grace_seconds: 5 })).json();
    await send(created.key, 'GET', '/entities');
    await send(rotated.key, 'GET', '/entities');
    const { rows } = await db.pool.query('select key_hash, previous_key_hash from api_keys where id = $1', [created.id]);
    expect(logged.length).toBeGreaterThan(0);
    for (const secret of [admin, created.key, rotated.key, rows[0].key_hash, rows[0].previous_key_hash]) {
      expect(logged).not.toContain(secret.slice(8));
    }
    const stored = JSON.stringify((await db.pool.query('select * from api_keys')).rows);
    expect(stored).not.toContain(rotated.key.slice(8));
  });
});

describe('GET /verticals', () => {
  test("the tenant's verticals with entity counts and schema status; another tenant's are neither listed nor counted", async () => {
    const key = await keyOf('catalog', ['ingest', 'read']);
    const other = await keyOf('catalog-other', ['ingest', 'read']);
    const records = (n: number, prefix: string) => ({
      records: Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, source_id: `${prefix}${i}` })),
    });
    await send(key, 'POST', '/schemas', {
      vertical: 'fasteners',
      entity_type: 'bolt',
      schema: { type: 'object', properties: { part_number: { type: 'string' } } },
    });
    await send(key, 'POST', '/schemas', { vertical: 'fasteners', entity_type: 'bolt', schema: { type: 'object' } });
    await send(key, 'POST', '/ingest/fasteners/bolt/batch', records(5, 'b'));
    await send(key, 'POST', '/ingest/fasteners/nut/batch', records(3, 'n'));
    await send(key, 'POST', '/ingest/retail/product/batch', records(2, 'p'));
    await send(key, 'POST', '/schemas', { vertical: 'planned', entity_type: 'thing', schema: { type: 'object' } });
    await send(other, 'POST', '/ingest/fasteners/bolt/batch', records(50, 'x'));
    await send(other, 'POST', '/ingest/secret_vertical/item/batch', records(1, 's'));

    const res = await send(key, 'GET', '/verticals');
    expect(res.statusCode).toBe(200);
    expectDeclared(app, 'GET', '/api/v1/verticals', res);
    expect(res.json()).toEqual({
      verticals: [
        {
          vertical: 'fasteners',
          entity_count: 8,
          schema_status: 'partial',
          entity_types: [
            { entity_type: 'bolt', entity_count: 5, schema_version: 2 },
            { entity_type: 'nut', entity_count: 3, schema_version: null },
          ],
        },
        {
          vertical: 'planned',
          entity_count: 0,
          schema_status: 'registered',
          entity_types: [{ entity_type: 'thing', entity_count: 0, schema_version: 1 }],
        },
        {
          vertical: 'retail',
          entity_count: 2,
          schema_status: 'none',
          entity_types: [{ entity_type: 'product', entity_count: 2, schema_version: null }],
        },
      ],
    });
    expect(res.body).not.toContain('secret_vertical');
    const empty = await send(await keyOf('catalog-new', ['read']), 'GET', '/verticals');
    expect(empty.json()).toEqual({ verticals: [] });
    expect((await send(await keyOf('catalog', ['connectors']), 'GET', '/verticals')).statusCode).toBe(403);
  });

  test("the counts read the tenant's part of an index, never the whole table, next to a much larger tenant", async () => {
    const big = await ensureTenant(db.pool, 'plan-big');
    const small = await ensureTenant(db.pool, 'plan-small');
    // Rows about as wide as real records (a few hundred bytes of vertical_data).
    const fill = (tenant: string, n: number) =>
      db.pool.query(
        `insert into entities (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash)
         select $1, 'v' || (g % 3), 't' || (g % 2), 'item ' || g, g::text, 's:' || g, jsonb_build_object('text', repeat(md5(g::text), 10)), md5(g::text)
           from generate_series(1, $2) g`,
        [tenant, n],
      );
    await fill(big, 60_000);
    await fill(small, 1_000);
    await db.pool.query('vacuum analyze entities');
    const plan = (await db.pool.query(`explain (format json) ${VERTICALS_SQL.replaceAll('$1', `'${small}'`)}`)).rows[0]['QUERY PLAN'];
    type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; 'Index Cond'?: string; Plans?: PlanNode[] };
    const nodes: PlanNode[] = [];
    const walk = (n: PlanNode) => {
      nodes.push(n);
      for (const child of n.Plans ?? []) walk(child);
    };
    walk(plan[0].Plan);
    const onEntities = nodes.filter((n) => n['Relation Name'] === 'entities' || n['Index Name']?.startsWith('entities_'));
    expect(onEntities.length).toBeGreaterThan(0);
    expect(onEntities.map((n) => n['Node Type'])).not.toContain('Seq Scan');
    const indexed = onEntities.filter((n) => n['Index Cond']);
    expect(indexed.length, JSON.stringify(onEntities)).toBeGreaterThan(0);
    for (const n of indexed) expect(n['Index Cond']).toMatch(/tenant_id = /);
    const counted = (await send(await keyOf('plan-small', ['read']), 'GET', '/verticals')).json().verticals;
    expect(counted.reduce((sum: number, v: { entity_count: number }) => sum + v.entity_count, 0)).toBe(1000);
  });
});

describe('the CLI', () => {
  test('keys create --rate-limit, keys list, keys rotate <id> [--grace]: the new key printed once, on stdout only', async () => {
    const port = await freePort();
    const env = { DATABASE_URL: db.url, API_KEY_SALT: TEST_SALT, QANATIX_URL: `http://127.0.0.1:${port}` };
    const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });
    const redis = await privateRedis();
    const api = spawnRole('api', { ...env, PORT: String(port), LOG_LEVEL: 'info', REDIS_URL: redis.url });
    try {
      await waitFor('the API', async () => (await fetch(`${env.QANATIX_URL}/healthz`).catch(() => null))?.ok, 60_000, 200);
      const created = await cli(['keys', 'create', '--tenant', 'cli-rotate', '--scopes', 'admin', '--rate-limit', '5000']);
      expect(created.code, created.err).toBe(0);
      const admin = created.out.trim();
      expect(created.err).toMatch(/5000 requests a minute/);
      const listed = await cli(['keys', 'list', '--json'], { QANATIX_API_KEY: admin });
      const [info] = JSON.parse(listed.out);
      expect(info.rate_limit_per_minute).toBe(5000);

      const rotated = await cli(['keys', 'rotate', info.id, '--grace', '60'], { QANATIX_API_KEY: admin });
      expect(rotated.code, rotated.err).toBe(0);
      const fresh = rotated.out.trim();
      expect(fresh).toMatch(/^sk_live_[0-9a-f]{64}$/);
      expect(rotated.err).toMatch(new RegExp(`key ${info.id} \\("cli"\\) rotated; the old secret works until 20\\d\\d-`));
      expect(rotated.err).not.toContain(fresh.slice(8));
      // The old admin key is in its grace period: both work.
      expect((await cli(['keys', 'list'], { QANATIX_API_KEY: admin })).code).toBe(0);
      const now = await cli(['keys', 'rotate', info.id], { QANATIX_API_KEY: fresh });
      expect(now.code, now.err).toBe(0);
      expect(now.err).toMatch(/the old secret no longer works/);
      expect((await cli(['keys', 'list'], { QANATIX_API_KEY: fresh })).code).toBe(3);
      expect((await cli(['keys', 'list'], { QANATIX_API_KEY: now.out.trim() })).code).toBe(0);

      for (const args of [
        ['keys', 'rotate'],
        ['keys', 'rotate', info.id, '--grace', '-5'],
        ['keys', 'rotate', info.id, '--grace', '86401'],
      ]) {
        expect((await cli(args, { QANATIX_API_KEY: now.out.trim() })).code, args.join(' ')).toBe(2);
      }
      for (const limit of ['0', '1.5', 'many', '1000001']) {
        const bad = await cli(['keys', 'create', '--tenant', 'cli-rotate', '--scopes', 'read', '--rate-limit', limit]);
        expect({ limit, code: bad.code }).toEqual({ limit, code: 2 });
        expect(bad.err).toMatch(/--rate-limit must be a whole number from 1 to 1000000/);
      }
      const output = api.output();
      for (const secret of [admin, fresh, now.out.trim()]) expect(output).not.toContain(secret.slice(8));
    } finally {
      await api.kill('SIGTERM');
      await redis.stop();
    }
  });
});
