import { describe, expect, test } from 'vitest';
import { canonicalJson } from '../../../src/core/canonical-json';

describe('canonicalJson', () => {
  test('key order does not matter, at any depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }),
    );
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
  });
  test('array order is data', () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });
  test('undefined fields are dropped like JSON.stringify does; strings are escaped', () => {
    expect(canonicalJson({ a: undefined, b: 'x"\n' })).toBe('{"b":"x\\"\\n"}');
  });
});
