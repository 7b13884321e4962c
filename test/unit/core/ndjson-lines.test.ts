import { describe, expect, test } from 'vitest';
import { ndjsonLines } from '../../../src/api/ndjson-lines';

async function collect(chunks: string[] | Buffer[], max = 100) {
  async function* gen() {
    for (const c of chunks) yield Buffer.isBuffer(c) ? c : Buffer.from(c);
  }
  const out = [];
  for await (const l of ndjsonLines(gen(), max)) out.push({ n: l.number, s: l.bytes.toString(), t: l.truncated });
  return out;
}

describe('ndjsonLines', () => {
  test('lines split across chunks are joined, numbered from 1', async () => {
    expect(await collect(['{"a":', '1}\n{"b"', ':2}\n\n{"c":3}'])).toEqual([
      { n: 1, s: '{"a":1}', t: false },
      { n: 2, s: '{"b":2}', t: false },
      { n: 3, s: '', t: false },
      { n: 4, s: '{"c":3}', t: false },
    ]);
  });
  test('a multi-byte character split across chunks survives', async () => {
    const bytes = Buffer.from('{"n":"✓"}\n');
    expect(await collect([bytes.subarray(0, 7), bytes.subarray(7)])).toEqual([{ n: 1, s: '{"n":"✓"}', t: false }]);
  });
  test('an overlong line is cut and flagged, the next line is intact', async () => {
    const out = await collect(['x'.repeat(60), 'y'.repeat(60) + '\nok\n'], 100);
    expect(out[0]).toMatchObject({ n: 1, t: true });
    expect(out[0]!.s).toHaveLength(100);
    expect(out[1]).toEqual({ n: 2, s: 'ok', t: false });
  });
});
