import { describe, expect, test } from 'vitest';
import { MAX_PROBLEMS, storableText, tidyProblems, unstorableCharacter, unstorablePlace } from '../../../src/core/record-problems';

describe('text PostgreSQL cannot store', () => {
  test.each([
    ['a NUL', 'a\u0000b', /NUL/, 'a\\u0000b'],
    ['a lone high surrogate', 'x\ud800', /unpaired UTF-16 surrogate \(\\ud800\)/, 'x\\ud800'],
    ['a lone low surrogate', '\udc00x', /unpaired/, '\\udc00x'],
    ['two high surrogates', '\ud800\ud800\udc00', /unpaired/, '\\ud800\ud800\udc00'],
    ['a low surrogate before a high one', '\udc00\ud800', /unpaired/, '\\udc00\\ud800'],
  ])('%s is found and escaped', (_what, text, message, escaped) => {
    expect(unstorableCharacter(text)?.what).toMatch(message);
    expect(storableText(text)).toBe(escaped);
    expect(unstorableCharacter(storableText(text))).toBeNull();
  });

  test('paired surrogates, other control characters and a literal backslash-u are fine', () => {
    for (const text of ['😀', 'ünï ✓', '\u0001\u001f\t', '\\u0000', '']) {
      expect(unstorableCharacter(text)).toBeNull();
      expect(storableText(text)).toBe(text);
    }
  });

  test('unstorablePlace names the first bad key or string', () => {
    expect(unstorablePlace({ a: [1, { 'b\u0000': 2 }] }, ['vertical_data'])).toMatchObject({
      loc: ['vertical_data', 'a', 1, 'b\u0000'],
      type: 'value_error.nul',
    });
    expect(unstorablePlace({ a: { b: ['ok', 'x\udfff'] } }, ['vertical_data'])?.loc).toEqual(['vertical_data', 'a', 'b', 1]);
    expect(unstorablePlace({ a: { b: ['ok', '😀'] }, '': null }, [])).toBeNull();
  });
});

describe('tidyProblems', () => {
  test('keeps at most MAX_PROBLEMS, clips long keys and messages, escapes what a key or message echoes', () => {
    const problems = Array.from({ length: 50 }, (_, i) => ({
      loc: ['vertical_data', 'k'.repeat(10_000) + '\u0000', i],
      msg: `bad \ud800 ${'m'.repeat(5000)}`,
      type: 't',
    }));
    const tidy = tidyProblems(problems);
    expect(tidy).toHaveLength(MAX_PROBLEMS);
    for (const p of tidy) {
      expect((p.loc[1] as string).length).toBeLessThanOrEqual(200);
      expect(p.msg.length).toBeLessThanOrEqual(1000 + 5);
      expect(p.msg.startsWith('bad \\ud800 ')).toBe(true);
      expect(unstorableCharacter(JSON.stringify(p))).toBeNull();
    }
  });

  test('clipping never leaves half a surrogate pair behind', () => {
    const [p] = tidyProblems([{ loc: ['a'.repeat(198) + '😀😀'], msg: 'x', type: 't' }]);
    expect(unstorableCharacter(p!.loc[0] as string)).toBeNull();
  });
});
