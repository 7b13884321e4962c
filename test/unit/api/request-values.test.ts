import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { textProblem, unstorableValues } from '../../../src/api/request-values';

describe('textProblem', () => {
  const fine = ['', 'plain', 'ünïcödé', '😀 a surrogate pair is one character', '\u{10FFFF}', 'tab\tand\nnewline', '\\u0000 spelled out'];
  test.each(fine)('%j is storable', (s) => {
    expect(textProblem(s)).toBeNull();
  });
  test.each([
    ['\u0000', 'value_error.nul'],
    ['a\u0000', 'value_error.nul'],
    ['\ud800', 'value_error.unicode'],
    ['\udbff', 'value_error.unicode'],
    ['\udc00', 'value_error.unicode'],
    ['x\udfff', 'value_error.unicode'],
    ['\ud83d', 'value_error.unicode'],
    ['\ude00\ud83d', 'value_error.unicode'],
    ['😀\ud800', 'value_error.unicode'],
  ])('%j is not', (s, type) => {
    expect(textProblem(s)).toMatchObject({ type });
  });
});

describe('unstorableValues', () => {
  test('names each bad value by its location, keys without echoing them', () => {
    const body = { a: ['ok', 'x\u0000'], 'b\ud800': 1, c: { d: { e: '\udc00' } }, n: [1, Infinity, -Infinity, NaN, 1e308] };
    const problems = unstorableValues(body, 'body');
    expect(problems).toHaveLength(6);
    expect(problems).toEqual(
      expect.arrayContaining([
        { loc: ['body', 'a', 1], msg: expect.stringMatching(/NUL/), type: 'value_error.nul' },
        { loc: ['body', '(key)'], msg: expect.stringMatching(/^a key must be valid Unicode/), type: 'value_error.unicode' },
        { loc: ['body', 'c', 'd', 'e'], msg: expect.any(String), type: 'value_error.unicode' },
        { loc: ['body', 'n', 1], msg: expect.any(String), type: 'value_error.number.not_finite' },
        { loc: ['body', 'n', 2], msg: expect.any(String), type: 'value_error.number.not_finite' },
        { loc: ['body', 'n', 3], msg: expect.any(String), type: 'value_error.number.not_finite' },
      ]),
    );
  });

  test('clean input of every JSON kind has no problems', () => {
    expect(unstorableValues({ s: '😀', n: 1.5, b: true, z: null, a: [[], {}], o: { '': '' } }, 'body')).toEqual([]);
    expect(unstorableValues(undefined, 'body')).toEqual([]);
  });

  test('raw bodies (bytes, streams) are left to their handlers', () => {
    expect(unstorableValues(Buffer.from('\u0000'), 'body')).toEqual([]);
    expect(unstorableValues(Readable.from(['\u0000']), 'body')).toEqual([]);
  });

  test('walks 100,000 levels without recursion, and stops at 20 problems', () => {
    let deep: unknown = '\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const [problem] = unstorableValues(deep, 'body');
    expect(problem!.loc).toHaveLength(100_001);
    expect(unstorableValues(Array(1000).fill('\u0000'), 'body')).toHaveLength(20);
  });
});
