import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isProblemType } from '../../src/problem-types';
import { bearer, testApi, type TestApi } from '../helpers/api';

/**
 * Every route a tenant key reaches, sent bodies, path values and query strings that break each kind of rule: no
 * answer is a 500, every 422 is `{"detail": [{loc, msg, type}]}` with a catalog type, and every DLQ entry the
 * hostile records left behind carries one too.
 */

let t: TestApi;
let key: string;
beforeAll(async () => {
  t = await testApi();
  key = await t.key('sweep', ['admin']);
});
afterAll(() => t?.close());

const BODIES: Array<string> = [
  'null',
  '[]',
  '"text"',
  '1e400',
  '{}',
  '{"records": null}',
  '{"records": {}}',
  '{"records": [null, 1, "x", [], {"name": 1e400}]}',
  '{"records": [{"name": "\\u0000", "source_id": "\\ud800"}]}',
  '{"records": [{"name": "ok", "source_id": "a", "__proto__": {"x": 1}, "constructor": 1}]}',
  '{"records": [{"name": "ok", "source_id": "b", "vertical_data": "x", "n": 123456789012345678901234567890}]}',
  `{"records": [{"name": "deep", "source_id": "c", "v": ${'['.repeat(200)}${']'.repeat(200)}}]}`,
  '{"name": 5, "scopes": "admin", "expires_at": "yesterday", "rate_limit_per_minute": -1}',
  '{"name": "k", "scopes": ["read"], "expires_at": "2000-01-01T00:00:00Z"}',
  '{"name": "k", "scopes": ["read"], "rate_limit_per_minute": 1e12}',
  '{"grace_seconds": -1}',
  '{"vertical": "\\u0000", "entity_type": "", "schema": {"type": "nonsense"}}',
  '{"vertical": "v", "entity_type": "e", "schema": {"minimum": "x"}}',
  '{"name": "c", "connector_type": "oracle", "connection_config": [], "schedule": "* * * * * * *", "batch_size": 0}',
  '{"name": "c", "vertical": "v", "entity_type": "e", "connector_type": "postgresql", "connection_config": {"dsn": "x"}, "query": "SELECT 1; DROP TABLE t"}',
  '{"mode": "sideways"}',
  '{"\\ud800": 1}',
];
const PATH_VALUES = ['not-a-uuid', '00000000-0000-4000-8000-000000000000', '%00', '%ED%A0%80', 'x'.repeat(99)];
const QUERIES = [
  '',
  '?limit=-1',
  '?limit=abc',
  '?limit=1e400',
  '?cursor=zzz',
  '?vertical=%00',
  '?source_id=%ED%A0%80',
  '?updated_since=never',
];

type Answer = { status: number; body: unknown; where: string };
const answers: Answer[] = [];

function check(a: Answer) {
  // This API runs without Redis: what needs the queue says so with 503, and nothing else may fail.
  if (a.status === 503 && /\/(queues|pull)\b/.test(a.where)) return;
  expect(a.status, a.where).toBeLessThan(500);
  if (a.status !== 422) return;
  const detail = (a.body as { detail: unknown }).detail;
  expect(Array.isArray(detail), a.where).toBe(true);
  for (const p of detail as Array<{ loc: unknown; msg: unknown; type: string }>) {
    expect(Array.isArray(p.loc), a.where).toBe(true);
    expect(typeof p.msg, a.where).toBe('string');
    expect({ where: a.where, type: p.type, known: isProblemType(p.type) }).toEqual({ where: a.where, type: p.type, known: true });
  }
}

describe('every route a tenant key reaches, with hostile input', () => {
  test('no 500, and every 422 carries catalog types', async () => {
    const routes = t.app.routeTable.filter((r) => r.scopes && r.url.startsWith('/api/v1/') && r.method !== 'HEAD');
    expect(routes.length).toBeGreaterThan(20);
    for (const route of routes) {
      const paths = PATH_VALUES.map((v) => route.url.replace(/:[a-z_]+/g, v));
      const urls = [...new Set(paths)].flatMap((p) => (route.method === 'GET' ? QUERIES.map((q) => p + q) : [p]));
      const bodies = route.method === 'GET' || route.method === 'DELETE' ? [undefined] : BODIES;
      for (const url of urls) {
        for (const body of bodies) {
          const stream = url.endsWith('/stream');
          const res = await t.app.inject({
            method: route.method as 'GET',
            url,
            headers: {
              ...bearer(key),
              ...(body !== undefined ? { 'content-type': stream ? 'application/x-ndjson' : 'application/json' } : {}),
            },
            ...(body !== undefined ? { payload: stream ? `${body}\n{"name": "s", "source_id": "s1"}\n${body}\n` : body } : {}),
          });
          const a = {
            status: res.statusCode,
            body: res.body ? JSON.parse(res.body) : null,
            where: `${route.method} ${url} ${body ?? ''}`.slice(0, 300),
          };
          answers.push(a);
          check(a);
        }
      }
    }
    expect(answers.filter((a) => a.status === 422).length).toBeGreaterThan(100);
  });

  test('every DLQ entry the hostile records left carries a catalog type', async () => {
    const { rows } = await t.db.pool.query<{ error_type: string; messages: Array<{ type: string }> }>(
      'select error_type, messages from ingestion_errors',
    );
    expect(rows.length).toBeGreaterThan(10);
    for (const r of rows) for (const m of r.messages) expect({ m, known: isProblemType(m.type) }).toEqual({ m, known: true });
  });
});
