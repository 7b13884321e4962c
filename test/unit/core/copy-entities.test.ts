import { describe, expect, test } from 'vitest';
import { CopyBinary, uuidText } from '../../../src/core/copy-binary';
import { entitiesCopy, newEntityIds } from '../../../src/core/copy-entities';
import { ReadyRecord } from '../../../src/core/ready-record';
import { binaryRows } from '../../helpers/copy-binary';

const TENANT = '0b7f2c64-5c1e-4c7a-9f00-aa55aa55aa55';
const CONNECTOR = 'c0ffee00-0000-4000-8000-000000000001';
const text = (b: Buffer | null | undefined) => (b == null ? b : b.toString('utf8'));
const uuid = (b: Buffer | null | undefined) => (b == null ? b : uuidText(b));

describe('newEntityIds', () => {
  test('UUIDv7: the millisecond they were made, version 7, the RFC variant, the rest random and never repeated', () => {
    const t0 = Date.now();
    const bytes = [newEntityIds(10_000), newEntityIds(10_000)];
    const t1 = Date.now();
    const ids = bytes.flatMap((b) => Array.from({ length: b.length / 16 }, (_, i) => uuidText(b, i * 16)));
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

describe('entities as binary COPY', () => {
  test('rows in dedup-key order, each its id, text as its bytes with nothing escaped, NULLs as NULL, jsonb versioned', () => {
    const rows = [
      { name: 'b\tname\\ ✓', sourceId: '2', dedupKey: 's:2', data: '{"x":"a\\nb"}' },
      { name: 'a', sourceId: null, dedupKey: 'h:ff', data: '{}' },
    ];
    const copy = entitiesCopy(rows, TENANT, 'v\\', 'e', null);
    const got = binaryRows(Buffer.concat([...copy.chunks()]));
    expect(copy.rows.map((r) => r.dedupKey)).toEqual(['h:ff', 's:2']);
    expect(got.map((r) => r.length)).toEqual([9, 9]);
    expect(got.map((r) => [uuid(r[0]), uuid(r[1]), ...r.slice(2, 7).map(text), r[7]![0], text(r[7]!.subarray(1)), r[8]])).toEqual([
      [copy.idOf(0), TENANT, 'v\\', 'e', 'a', null, 'h:ff', 1, '{}', null],
      [copy.idOf(1), TENANT, 'v\\', 'e', 'b\tname\\ ✓', '2', 's:2', 1, '{"x":"a\\nb"}', null],
    ]);
  });

  test('a record made in the binary format goes as it is, and reads back as its name and JSON', () => {
    const json = '{"q":"say \\"hi\\" \\\\ back","t":"a\\tb ✓"}';
    // Between a byte before and a byte after: the name, the source_id, the dedup key, the document.
    const fields = new CopyBinary();
    fields.copy(Buffer.from('x'));
    fields.text('n\tame ✓');
    fields.text('7');
    fields.text('s:7');
    fields.jsonb(json);
    fields.copy(Buffer.from('y'));
    const bytes = fields.done();
    const made = new ReadyRecord('7', bytes, 1, bytes.length - 1);
    expect(made.name).toBe('n\tame ✓');
    expect(made.data).toBe(json);
    expect(made.toRecord()).toEqual({ name: 'n\tame ✓', source_id: '7', vertical_data: JSON.parse(json) });
    const copy = entitiesCopy([made], TENANT, 'v', 'e', CONNECTOR);
    const [row] = binaryRows(Buffer.concat([...copy.chunks()]));
    expect(uuid(row![0])).toBe(copy.idOf(0));
    expect(Buffer.concat(row!.slice(4, 8).map((f) => Buffer.concat([Buffer.from([0, 0, 0, f!.length]), f!])))).toEqual(
      bytes.subarray(1, -1),
    );
    expect(uuid(row![8])).toBe(CONNECTOR);
  });

  test('a batch is sent in pieces of 500 rows, the header in the first, the trailer in the last, every row once, in order', () => {
    const rows = Array.from({ length: 1234 }, (_, i) => ({ name: `p${i}`, sourceId: String(i), dedupKey: `s:${i}`, data: '{}' }));
    const copy = entitiesCopy(rows, TENANT, 'v', 'e', CONNECTOR);
    const pieces = [...copy.chunks()];
    expect(pieces).toHaveLength(3);
    const got = binaryRows(Buffer.concat(pieces));
    expect(got.map((r) => text(r[6]))).toEqual(copy.rows.map((r) => r.dedupKey));
    expect(got.map((r) => uuid(r[0]))).toEqual(copy.rows.map((_, i) => copy.idOf(i)));
    expect(new Set(got.map((r) => uuid(r[0]))).size).toBe(1234);
    // Each piece but the last ends where a row ends: the second starts with a row of 9 fields.
    expect(pieces[1]!.readInt16BE(0)).toBe(9);
    expect(pieces[2]!.readInt16BE(pieces[2]!.length - 2)).toBe(-1);
  });

  test('an empty batch is a header and a trailer; a tenant or connector that is not a uuid is refused', () => {
    expect(binaryRows(Buffer.concat([...entitiesCopy([], TENANT, 'v', 'e', null).chunks()]))).toEqual([]);
    expect(() => entitiesCopy([], 't', 'v', 'e', null)).toThrow(/not a uuid/);
    expect(() => entitiesCopy([], TENANT, 'v', 'e', `${CONNECTOR}x`)).toThrow(/not a uuid/);
  });
});
