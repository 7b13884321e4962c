import { describe, expect, test } from 'vitest';
import { prepareBatch } from '../../../src/core/ingest';
import { JsonText, splicedJsonb, withJsonParsed } from '../../../src/core/json-text';
import { ProblemType } from '../../../src/problem-types';

/** Texts as PostgreSQL writes jsonb (`", "` and `": "`, numbers in numeric's plain notation), and some it never writes. */
const TEXTS = [
  '{}',
  '{"a": 1}',
  '{"size": "L", "tags": ["t1", "t2"], "color": "green", "rating": 3.7000000000000000}',
  '{"n": 2.50, "m": 3.0, "z": 0.000, "neg": -1.500, "int": 100, "big": 123456789012345, "frac": 1.23456789012345}',
  '{"tiny": 0.0000001, "small": 0.000001, "sixteen": 1234567890123456, "huge": 12345678901234567890}',
  '{"s": "a, b: c 1.50 {\\"x\\": 2.0}", "esc": "say \\"hi\\" \\\\ back\\\\", "k\\"ey": [1.10, [2.0, {"d": 3.00}]]}',
  '{"h:abc": 1, "s:1": {"h:x": 2}, "10": 1, "2": 2, "b": 3}',
  '{"e": "😀 ✓ Ünï", "😀": [true, false, null]}',
  '{"c": "tab\\tnl\\n\\u0001\\u001f"}',
  '{"__proto__": {"polluted": true}}',
  '{"a": {"constructor": 1}}',
  '{"a": [{"prototype": 1}]}',
  '{"a": "__proto__"}',
  '{"\\u005f_proto__": 1}',
  '{"nul": "a\\u0000b"}',
  '{"lone": "\\ud800"}',
  '{"raw lone": "x\ud800y"}',
  '{"pair": "\ud83d\ude00"}',
  '{"exp": 1e5, "Exp": 2E-3}',
  '[1, 2]',
  `{"deep": ${'['.repeat(15)}1${']'.repeat(15)}}`,
  `{"deeper": ${'['.repeat(20)}1${']'.repeat(20)}}`,
  `{"limit": ${'{"a": '.repeat(31)}1${'}'.repeat(31)}}`,
  `{"over": ${'{"a": '.repeat(40)}1${'}'.repeat(40)}}`,
];

/** One connector-like record per text, its `doc` field holding the text as JsonText (or parsed, the way before). */
const records = (asText: boolean, keyed = true) =>
  TEXTS.map((text, i) => ({
    name: `r${i}`,
    ...(keyed ? { source_id: String(i) } : {}),
    vertical_data: { id: i, doc: asText ? new JsonText(text) : JSON.parse(text), after: 'x' },
  }));

/** A document without its strings: what is left of its numbers' spellings. */
const stripStrings = (data: string) => data.replace(/"(?:[^"\\]|\\.)*"/g, '""');

describe('JSON texts spliced into the document', () => {
  test('splicedJsonb cuts the trailing zeros of fractions, keeps strings as they are, and refuses what only parsing can decide', () => {
    expect(splicedJsonb('{"a": 2.50, "b": [3.0, 0.000, -1.500], "s": "2.50"}')).toBe('{"a": 2.5, "b": [3, 0, -1.5], "s": "2.50"}');
    expect(splicedJsonb('{"a": 1}')).toBe('{"a": 1}');
    for (const refused of [
      '[1]',
      '"text"',
      '{"__proto__": 1}',
      '{"a": "constructor"}',
      '{"a": 1e5}',
      '{"a": 1234567890123456}',
      '{"a": "\\u0001"}',
      '{"a": "x\u0000"}',
      '{"a": "\udc00"}',
      `{"a": ${'['.repeat(17)}${']'.repeat(17)}}`,
      '{"a": [1}',
    ]) {
      expect(splicedJsonb(refused), refused).toBeNull();
    }
    expect(splicedJsonb('{"a": "\ud83d\ude00"}')).toBe('{"a": "\ud83d\ude00"}');
  });

  test('a batch of JSON texts keeps and refuses the records the parsed values do, for the same reasons, with the same documents', () => {
    for (const keyed of [true, false]) {
      const before = prepareBatch(records(false, keyed), null);
      const now = prepareBatch(records(true, keyed), null);
      expect(now.keys).toEqual(before.keys);
      expect(now.rejections).toEqual(before.rejections);
      expect(now.rows.map((r) => [r.name, r.sourceId, r.dedupKey])).toEqual(before.rows.map((r) => [r.name, r.sourceId, r.dedupKey]));
      now.rows.forEach((row, i) => {
        const old = before.rows[i]!.data;
        expect(JSON.parse(row.data), row.name).toEqual(JSON.parse(old));
        // jsonb keeps a number's scale (2.50 apart from 2.5): no fraction ends in a zero, as a double's never does.
        expect(stripStrings(row.data), row.name).not.toMatch(/\.\d*0(?!\d)/);
      });
    }
    // The refusals are there to compare: forbidden keys (one spelled with an escape), NUL, surrogates, nesting.
    const refused = prepareBatch(records(true), null).rejections;
    expect(new Set(refused.map((r) => r.problems[0]!.type))).toEqual(
      new Set([ProblemType.forbiddenKey, ProblemType.nul, ProblemType.unicode, ProblemType.tooDeep]),
    );
    expect(refused.filter((r) => r.problems[0]!.type === ProblemType.forbiddenKey)).toHaveLength(4);
    // What was kept was spliced, not parsed again: the texts' own `": "` spacing is in the documents.
    expect(prepareBatch(records(true), null).rows.filter((r) => r.data.includes('": ')).length).toBeGreaterThan(5);
  });

  test('NUL and unpaired surrogates, raw or escaped, are refused at their place as parsed values are; the rest of the batch is kept', () => {
    const texts = ['{"a": "x\\u0000"}', '{"a": {"b": "\\udc00"}}', '{"a": "x\udc00y"}', '{"a": ["\ud800"]}', '{"ok": 1}'];
    const batch = (asText: boolean) =>
      texts.map((text, i) => ({ name: `r${i}`, source_id: String(i), doc: asText ? new JsonText(text) : JSON.parse(text) }));
    const before = prepareBatch(batch(false), null);
    const now = prepareBatch(batch(true), null);
    expect(now.rejections).toEqual(before.rejections);
    expect(now.rejections.map((r) => [r.position, r.problems[0]!.type, r.problems[0]!.loc])).toEqual([
      [0, ProblemType.nul, ['vertical_data', 'doc', 'a']],
      [1, ProblemType.unicode, ['vertical_data', 'doc', 'a', 'b']],
      [2, ProblemType.unicode, ['vertical_data', 'doc', 'a']],
      [3, ProblemType.unicode, ['vertical_data', 'doc', 'a', 0]],
    ]);
    expect(now.rows.map((r) => r.data)).toEqual(['{"doc":{"ok":1}}']);
  });

  test('a schema, a record without source_id, or a refusal gets the values parsed; the DLQ keeps the value, not the text', () => {
    const record = { name: '', source_id: '1', vertical_data: { doc: new JsonText('{"b": 2.50}') } };
    const [rejection] = prepareBatch([record], null).rejections;
    expect(rejection!.raw).toEqual({ name: '', source_id: '1', vertical_data: { doc: { b: 2.5 } } });
    expect(JSON.stringify(record)).toBe('{"name":"","source_id":"1","vertical_data":{"doc":{"b":2.5}}}');
    const validate = Object.assign((v: unknown) => (v as { doc: { b?: number } }).doc.b === 2.5, { errors: null });
    const kept = prepareBatch([{ ...record, name: 'n' }], validate as never);
    expect(kept.rows.map((r) => r.data)).toEqual(['{"doc":{"b":2.5}}']);
    const unkeyed = prepareBatch([{ name: 'n', vertical_data: { doc: new JsonText('{"b": 2.50}') } }], null);
    expect(unkeyed.rows[0]!.dedupKey).toBe(prepareBatch([{ name: 'n', vertical_data: { doc: { b: 2.5 } } }], null).rows[0]!.dedupKey);
    const refusedRow = { position: 3, raw: { doc: new JsonText('{"a": [1]}') }, errorType: 'invalid_record' as const, problems: [] };
    expect(prepareBatch([], null, { refused: [refusedRow] }).rejections[0]!.raw).toEqual({ doc: { a: [1] } });
    expect(withJsonParsed({ keep: 1 })).toEqual({ keep: 1 });
    // A refused record is looked through for texts only as deep as a kept one can be: a hostile nesting costs no stack.
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const [tooDeep] = prepareBatch([{ name: 'n', source_id: '1', v: deep }], null).rejections;
    expect(tooDeep!.problems[0]!.type).toBe(ProblemType.tooDeep);
  });
});
