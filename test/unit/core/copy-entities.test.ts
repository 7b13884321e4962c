import { ReadyRecord } from '../../../src/core/ready-record';
import { describe, expect, test } from 'vitest';
import { entitiesCopy, newEntityIds } from '../../../src/core/copy-entities';
import { copyField } from '../../../src/core/copy-text';

describe('newEntityIds', () => {
  test('UUIDv7: the millisecond they were made, version 7, the RFC variant, the rest random and never repeated', () => {
    const t0 = Date.now();
    const ids = [...newEntityIds(10_000), ...newEntityIds(10_000)];
    const t1 = Date.now();
    expect(new Set(ids).size).toBe(20_000);
    const variants = new Set<string>();
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      expect(ms).toBeGreaterThanOrEqual(t0);
      expect(ms).toBeLessThanOrEqual(t1);
      variants.add(id[19]!);
    }
    expect([...variants].sort()).toEqual(['8', '9', 'a', 'b']);
    // Every random hex digit takes every value somewhere: no position is stuck.
    for (const at of [15, 16, 17, 20, 21, 22, 24, 30, 35]) expect(new Set(ids.map((id) => id[at])).size).toBe(16);
  });
});

describe('COPY text', () => {
  test("a field escapes exactly what COPY's text format reads specially", () => {
    expect(copyField('plain "quoted" ünï ✓')).toBe('plain "quoted" ünï ✓');
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyField('\\N')).toBe('\\\\N');
    expect(copyField('\\.')).toBe('\\\\.');
  });

  test('rows in dedup-key order, one line each, null source_id and connector as \\N, each row its id', () => {
    const rows = [
      { name: 'b\tname', sourceId: '2', dedupKey: 's:2', data: '{"x":"a\\nb"}' },
      { name: 'a', sourceId: null, dedupKey: 'h:ff', data: '{}' },
    ];
    const { chunks, rows: ordered, ids } = entitiesCopy(rows, 't', 'v\\', 'e', null);
    const text = Buffer.concat([...chunks()]).toString();
    expect(ordered.map((r) => r.dedupKey)).toEqual(['h:ff', 's:2']);
    expect(text).toBe(`${ids[0]}\tt\tv\\\\\te\ta\t\\N\th:ff\t{}\t\\N\n${ids[1]}\tt\tv\\\\\te\tb\\tname\t2\ts:2\t{"x":"a\\\\nb"}\t\\N\n`);
  });

  test('a record made as COPY text goes as it is, and reads back as its name and JSON', () => {
    const json = '{"q":"say \\"hi\\" \\\\ back","t":"a\\tb"}';
    // Between a byte before and a byte after: the name (a COPY escape in it), the source_id, the dedup key, the document.
    const fields = `xn\\tame\t7\ts:7\t${json.replaceAll('\\', '\\\\')}y`;
    const bytes = Buffer.from(fields);
    const made = new ReadyRecord('7', bytes, 1, 7, 14, bytes.length - 1);
    expect(made.name).toBe('n\tame');
    expect(made.data).toBe(json);
    expect(made.toRecord()).toEqual({ name: 'n\tame', source_id: '7', vertical_data: JSON.parse(json) });
    const { chunks, ids } = entitiesCopy([made], 't', 'v', 'e', null);
    const line = Buffer.concat([...chunks()]).toString();
    expect(line).toBe(`${ids[0]}\tt\tv\te\t${fields.slice(1, -1)}\t\\N\n`);
  });

  test('a batch is sent in pieces of whole lines, every row once, in order', () => {
    const rows = Array.from({ length: 1234 }, (_, i) => ({ name: `p${i}`, sourceId: String(i), dedupKey: `s:${i}`, data: '{}' }));
    const copy = entitiesCopy(rows, 't', 'v', 'e', 'c');
    const pieces = [...copy.chunks()].map((p) => p.toString());
    expect(pieces.map((p) => p.split('\n').length - 1)).toEqual([500, 500, 234]);
    expect(pieces.every((p) => p.endsWith('\n'))).toBe(true);
    const lines = pieces.join('').split('\n').slice(0, -1);
    expect(lines.map((l) => l.split('\t')[6])).toEqual(copy.rows.map((r) => r.dedupKey));
    expect(lines.map((l) => l.split('\t')[0])).toEqual(copy.ids);
  });
});
