import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isProblemType } from '../../src/problem-types';
import { bearer, testApi, type TestApi } from '../helpers/api';

/**
 * A key's name is a tenant's text that operators read in a terminal (`qanatix keys list`) and admins in listings:
 * names that are blank, or hold what a terminal would run or what reorders how they read, are refused.
 */

let t: TestApi;
let admin: string;
beforeAll(async () => {
  t = await testApi();
  admin = await t.key('names', ['admin']);
});
afterAll(() => t?.close());

const create = (name: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/keys', headers: bearer(admin), payload: { name, scopes: ['read'] } });
const keyCount = async () => (await t.db.pool.query<{ n: number }>('select count(*)::int as n from api_keys')).rows[0]!.n;

describe('key names', () => {
  test('control characters and bidirectional overrides: 422 at body.name, and no key made', async () => {
    const before = await keyCount();
    const hostile = [
      '\u001b[2J\u001b[Hoperator: all keys revoked',
      'deploy\u001b]0;title\u0007',
      'line\nbreak',
      'carriage\rreturn',
      'tab\there',
      'bell\u0007',
      'delete\u007f',
      'c1 csi \u009b31m',
      'next line \u0085',
      'right-to-left \u202eyek nimda',
      'isolate \u2066x\u2069',
      'embedding \u202ax\u202c',
    ];
    for (const name of hostile) {
      const res = await create(name);
      expect({ name, status: res.statusCode }).toEqual({ name, status: 422 });
      const [problem] = res.json().detail;
      expect(problem.loc).toEqual(['body', 'name']);
      expect(problem.msg).toMatch(/control characters .* bidirectional overrides/);
      expect(isProblemType(problem.type)).toBe(true);
    }
    expect(await keyCount()).toBe(before);
  });

  test('names with nothing visible: 422 value_error.empty', async () => {
    const before = await keyCount();
    for (const name of [' ', '   ', '\u00a0', '\u3000', '\u200b', '\u200b \ufeff', '\u2028']) {
      const res = await create(name);
      expect({ name, status: res.statusCode }).toEqual({ name, status: 422 });
      expect(res.json().detail).toEqual([{ loc: ['body', 'name'], msg: 'name must hold a visible character', type: 'value_error.empty' }]);
    }
    expect(await keyCount()).toBe(before);
  });

  test('ordinary names in any script, with spaces, punctuation and emoji, are kept exactly', async () => {
    for (const name of ['deploy', 'CI – production ✓', 'ключ для склада', '倉庫キー', 'مفتاح', 'a'.repeat(200), 'key 🔑 #2', ' padded ']) {
      const res = await create(name);
      expect({ name, status: res.statusCode }).toEqual({ name, status: 201 });
      expect(res.json().name).toBe(name);
    }
  });
});
