import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { isProblemType, PROBLEM_FAMILIES, PROBLEM_MEANINGS, ProblemType } from '../../src/problem-types';

const page = readFileSync(new URL('../../docs/problem-types.md', import.meta.url), 'utf8');
/** The `| `type` | meaning |` rows of the page's tables. */
const rows = new Map([...page.matchAll(/^\| `([^`]+)` \| (.+) \|$/gm)].map((m) => [m[1] as string, m[2] as string]));
const familyCode = (prefix: string) => `${prefix}<${prefix === 'value_error.sqlstate_' ? 'SQLSTATE' : 'keyword'}>`;

describe('the problem type catalog', () => {
  test('every code is distinct and has a meaning', () => {
    const codes = Object.values(ProblemType);
    expect(new Set(codes).size).toBe(codes.length);
    expect(Object.keys(PROBLEM_MEANINGS).sort()).toEqual([...codes].sort());
    for (const meaning of Object.values(PROBLEM_MEANINGS)) expect(meaning.length).toBeGreaterThan(10);
  });

  test('docs/problem-types.md lists exactly the catalog, each code with its meaning', () => {
    const expected = new Map<string, string>([
      ...Object.entries(PROBLEM_MEANINGS),
      ...Object.entries(PROBLEM_FAMILIES).map(([prefix, meaning]) => [familyCode(prefix), meaning] as [string, string]),
    ]);
    expect([...rows.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [code, meaning] of expected) expect(rows.get(code), code).toBe(meaning);
  });

  test('family codes name what broke; bare keywords and empty families are not codes', () => {
    const codes = ['value_error.missing', 'missing', 'request.required', 'schema.minimum', 'value_error.sqlstate_22P02'];
    const others = ['required', 'enum', 'type', 'request.', 'schema.', 'value_error.sqlstate_', 'value_error.other', ''];
    for (const code of codes) expect(isProblemType(code), code).toBe(true);
    for (const code of others) expect(isProblemType(code), code).toBe(false);
  });
});
