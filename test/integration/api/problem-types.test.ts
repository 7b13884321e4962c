/**
 * Every problem the API answers carries a `type` from the catalog (src/problem-types.ts): the request's own
 * schema, the route's checks, the connector definition's validator, the core's record rules.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isProblemType } from '../../../src/problem-types';
import { bearer, testApi, type TestApi } from '../../helpers/api';

let t: TestApi;
let key: string;
beforeAll(async () => {
  t = await testApi();
  key = await t.key('catalog', ['ingest', 'read', 'admin', 'connectors']);
});
afterAll(() => t.close());

type Problem = { loc: Array<string | number>; msg: string; type: string };

async function problems(method: 'GET' | 'POST', path: string, payload?: unknown): Promise<Problem[]> {
  const body = payload === undefined ? {} : { payload: payload as object };
  const res = await t.app.inject({ method, url: `/api/v1${path}`, headers: bearer(key), ...body });
  const answer = res.json();
  const found: Problem[] = res.statusCode === 422 ? answer.detail : (answer.errors ?? []);
  expect(found.length, `${method} ${path}: ${res.body}`).toBeGreaterThan(0);
  for (const p of found) expect(isProblemType(p.type), `${method} ${path}: ${JSON.stringify(p)}`).toBe(true);
  return found;
}

const typeAt = (found: Problem[], loc: Array<string | number>) => found.find((p) => JSON.stringify(p.loc) === JSON.stringify(loc))?.type;

describe('problem types', () => {
  test("the endpoint's own schema: request.<keyword>", async () => {
    expect(typeAt(await problems('POST', '/auth/keys', { name: 'k', scopes: ['superuser'] }), ['body', 'scopes', '0'])).toBe(
      'request.enum',
    );
    expect(typeAt(await problems('POST', '/auth/keys', { scopes: ['read'] }), ['body', 'name'])).toBe('value_error.missing');
    expect(typeAt(await problems('GET', '/ingestions/not-a-uuid'), ['params', 'id'])).toBe('request.format');
  });

  test("the routes' own checks, a connector definition, records and request values", async () => {
    const connector = await problems('POST', '/connectors', {
      name: '',
      vertical: 'v',
      entity_type: 'e',
      connector_type: 'postgresql',
      table: 't',
      query: 'SELECT 1',
    });
    expect(typeAt(connector, ['body', 'name'])).toBe('value_error');
    expect(typeAt(connector, ['body', 'connection_config'])).toBe('missing');
    expect(typeAt(connector, ['body', 'query'])).toBe('conflict');
    const typo = {
      name: 'c',
      vertical: 'v',
      entity_type: 'e',
      connector_type: 'postgresql',
      connection_config: {},
      table: 't',
      colums: [],
    };
    expect(typeAt(await problems('POST', '/connectors', typo), ['body', 'colums'])).toBe('unknown_field');
    expect(typeAt(await problems('POST', '/ingest/v/e/batch', { records: [] }), ['body', 'records'])).toBe('value_error.empty');
    const records = await problems('POST', '/ingest/v/e/batch', {
      records: [{ name: 'ok' }, { source_id: 'x' }, { name: 'deep', vertical_data: 'text' }],
    });
    expect(records.map((p) => p.type).sort()).toEqual(['type_error.object', 'value_error.missing']);
    expect(typeAt(await problems('GET', '/entities?source_id=a%00b'), ['querystring', 'source_id'])).toBe('value_error.nul');
  });
});
