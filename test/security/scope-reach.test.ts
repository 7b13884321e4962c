import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SCOPES, type Scope } from '../../src/auth/api-keys';
import { bearer, testApi, type TestApi } from '../helpers/api';

/**
 * Every route the API serves, walked with a key of each scope alone: a key gets past the scope check exactly where
 * docs/api-keys.md says its scope reaches, and nowhere else. A route added without a line here fails the walk.
 */

const ENTITY_READS = ['GET /api/v1/entities', 'GET /api/v1/entities/:id'];
const VERTICALS = ['GET /api/v1/verticals'];
const INGESTION_READS = ['GET /api/v1/ingestions/:id', 'GET /api/v1/ingestions/:id/errors'];
const SCHEMA_READS = ['GET /api/v1/schemas', 'GET /api/v1/schemas/:vertical/:entity_type'];
const INTAKE = [
  'POST /api/v1/ingest/:vertical/:entity_type/batch',
  'POST /api/v1/ingest/:vertical/:entity_type/stream',
  'POST /api/v1/webhooks/ingest/:vertical/:entity_type',
  'POST /api/v1/schemas',
];
const CONNECTORS = [
  'POST /api/v1/connectors',
  'GET /api/v1/connectors',
  'GET /api/v1/connectors/:id',
  'PATCH /api/v1/connectors/:id',
  'DELETE /api/v1/connectors/:id',
  'POST /api/v1/connectors/:id/test',
  'POST /api/v1/connectors/:id/pull',
  'GET /api/v1/connectors/:id/runs',
  'GET /api/v1/connectors/:id/runs/:run_id',
  'GET /api/v1/connectors/:id/state',
  'PUT /api/v1/connectors/:id/state',
  'DELETE /api/v1/connectors/:id/state',
  'GET /api/v1/connectors/:id/runs/:run_id/events',
  'POST /api/v1/connectors/:id/runs/:run_id/cancel',
  'POST /api/v1/connectors/:id/runs/:run_id/confirm',
  'POST /api/v1/connectors/:id/pause',
  'POST /api/v1/connectors/:id/resume',
  'POST /api/v1/connectors/preview',
  'POST /api/v1/connectors/:id/preview',
  'POST /api/v1/connectors/:id/notify/rotate-secret',
  'GET /api/v1/connectors/:id/doctor',
];
const KEYS = ['POST /api/v1/auth/keys', 'POST /api/v1/auth/keys/:id/rotate', 'GET /api/v1/auth/keys', 'DELETE /api/v1/auth/keys/:id'];
const QUEUE_JOBS = [
  'GET /api/v1/queues',
  'GET /api/v1/queues/:name/jobs',
  'GET /api/v1/queues/:name/jobs/:id',
  'POST /api/v1/queues/:name/jobs/:id/retry',
];
/** Installation-wide: an operator credential only, whatever a tenant key's scopes. */
const OPERATOR_ONLY = ['POST /api/v1/queues/:name/pause', 'POST /api/v1/queues/:name/resume', 'POST /api/v1/queues/:name/clean'];

const REACH: Record<Scope, string[]> = {
  ingest: [...INTAKE, ...INGESTION_READS, ...SCHEMA_READS, ...VERTICALS],
  read: [...ENTITY_READS, ...INGESTION_READS, ...SCHEMA_READS, ...VERTICALS],
  connectors: CONNECTORS,
  entities: [...ENTITY_READS, ...VERTICALS],
  search: [...ENTITY_READS, ...VERTICALS],
  admin: [...ENTITY_READS, ...VERTICALS, ...INGESTION_READS, ...SCHEMA_READS, ...INTAKE, ...CONNECTORS, ...KEYS, ...QUEUE_JOBS],
};

let t: TestApi;
beforeAll(async () => {
  t = await testApi();
});
afterAll(() => t?.close());

describe('what each scope reaches', () => {
  test('the walk knows every route that takes a credential', () => {
    const guarded = t.app.routeTable.filter((r) => (r.scopes || r.operator) && r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`);
    const known = new Set([...Object.values(REACH).flat(), ...OPERATOR_ONLY]);
    expect(guarded.filter((r) => !known.has(r))).toEqual([]);
    expect([...known].filter((r) => !guarded.includes(r))).toEqual([]);
  });

  test('a key of one scope gets past the scope check exactly on the routes its scope reaches', async () => {
    const guarded = t.app.routeTable.filter((r) => (r.scopes || r.operator) && r.method !== 'HEAD');
    const unexpected: string[] = [];
    for (const scope of SCOPES) {
      const key = await t.key(`reach-${scope}`, [scope]);
      for (const route of guarded) {
        const name = `${route.method} ${route.url}`;
        const url = route.url.replace(/:[a-z_]+/g, '00000000-0000-4000-8000-000000000000');
        const res = await t.app.inject({ method: route.method as 'GET', url, headers: bearer(key) });
        const reached = res.statusCode !== 403 && res.statusCode !== 401;
        if (reached !== REACH[scope].includes(name)) unexpected.push(`${scope}: ${name} answered ${res.statusCode}`);
      }
    }
    expect(unexpected).toEqual([]);
  });
});
