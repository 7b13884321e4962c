import { describe, expect, test } from 'vitest';
import { CopyRecords } from '../../../connectors/postgresql/postgresql-copy-records';
import { PgTypes } from '../../../connectors/postgresql/postgresql-types';
import { CopyBinary } from '../../../src/core/copy-binary';
import { ReadyRecord } from '../../../src/core/ready-record';
import { splicedJsonb } from '../../../src/core/json-text';
import { binaryFields } from '../../helpers/copy-binary';

// The byte-level way against what it stands for, on COPY lines made here: the integration test compares it with the
// driver's rows on a real server; this one drives the buffer the records share across many of its boundaries.

const types = new PgTypes();
const shape = { nameColumn: 'name', sourceIdColumns: ['id'], fields: { include: null, exclude: [], rename: {} } };
const page = (fields: Array<[string, number]>, slabBytes?: number) =>
  CopyRecords.forPage(
    fields.map(([name, dataTypeID]) => ({ name, dataTypeID })),
    (oid) => types.pgTypesKeepingJson.getTypeParser(oid),
    shape,
    slabBytes,
  );

/** The columns of the pages below: a key, the name, a text and a bigint. */
const COLUMNS: Array<[string, number]> = [
  ['id', 23],
  ['name', 25],
  ['note', 25],
  ['n', 20],
];

/** A record's fields as it sends them: name, source_id, dedup key, then the document without its version byte. */
function sent(...records: ReadyRecord[]): string[] {
  const out = new CopyBinary();
  for (const r of records) r.copyTo(out);
  return binaryFields(out.done()).map((f, i) => (i % 4 === 3 ? (expect(f![0]).toBe(1), f!.subarray(1)) : f!).toString('utf8'));
}

/** A deterministic stream of numbers in [0, 1). */
function random(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe('records made from COPY lines', () => {
  test.each([64, 97, 160, 1000, undefined])('every record reads back as its row, wherever a buffer of %s bytes runs out', (slabBytes) => {
    // Rows of many sizes: records start, and the buffer runs out, at many offsets of a row's fields.
    const next = random(7);
    const records = page(COLUMNS, slabBytes);
    const rows: Array<{ id: number; name: string; note: string; n: string }> = [];
    for (let id = 1; id <= 6000; id++) {
      const name = 'n'.repeat(1 + Math.floor(next() * 30)) + id;
      // Mostly short: the fields before the document are then a good part of a row, where a buffer often runs out.
      const note = 'x'.repeat(Math.floor(next() ** 8 * (slabBytes ? 200 : 40_000))) + '"\\';
      const n = String(Math.floor(next() * 1e6));
      rows.push({ id, name, note, n });
      records.line(Buffer.from(`${id}\t${name}\t${note.replaceAll('\\', '\\\\')}\t${n}\n`));
    }
    const out = records.rows();
    expect(out).toHaveLength(rows.length);
    for (const [i, made] of out.slice(0, -1).entries()) {
      const row = rows[i]!;
      expect(made).toBeInstanceOf(ReadyRecord);
      const record = made as ReadyRecord;
      expect(record.name).toBe(row.name);
      expect(record.sourceId).toBe(String(row.id));
      expect(JSON.parse(record.data)).toEqual({ id: row.id, note: row.note, n: Number(row.n) });
      expect(sent(record)).toEqual([row.name, String(row.id), `s:${row.id}`, record.data]);
    }
    expect(out.at(-1)).toEqual({ id: 6000, name: rows.at(-1)!.name, note: rows.at(-1)!.note, n: Number(rows.at(-1)!.n) });
  });

  test('a buffer that runs out at each byte of a record: the record moves whole', () => {
    // The second row starts where the first ended; one buffer size after another puts the end at each of its bytes.
    for (let slabBytes = 40; slabBytes <= 160; slabBytes++) {
      const records = page(COLUMNS, slabBytes);
      for (const line of ['1\tfirst\t\t7\n', '123456\tsecond name\ta\\\\b\t-42\n', '9\tlast\t\t0\n']) records.line(Buffer.from(line));
      const [first, second] = records.rows() as ReadyRecord[];
      expect(sent(first!, second!), `a buffer of ${slabBytes} bytes`).toEqual([
        ...['first', '1', 's:1', '{"id":1,"note":"","n":7}'],
        ...['second name', '123456', 's:123456', '{"id":123456,"note":"a\\\\b","n":-42}'],
      ]);
      expect(JSON.parse(second!.data)).toEqual({ id: 123456, note: 'a\\b', n: -42 });
    }
  });

  test('a name and a text key with COPY escapes in them go as the text they stand for', () => {
    const records = page([
      ['id', 25],
      ['name', 25],
    ]);
    records.line(Buffer.from('a\\tb\\\\c ✓\tn\\\\x\\ty\n'));
    records.line(Buffer.from('plain\tname\n'));
    records.line(Buffer.from('last\tlast\n'));
    const [escaped, plain] = records.rows() as ReadyRecord[];
    expect(sent(escaped!, plain!)).toEqual([
      ...['n\\x\ty', 'a\tb\\c ✓', 's:a\tb\\c ✓', '{"id":"a\\tb\\\\c ✓"}'],
      ...['name', 'plain', 's:plain', '{"id":"plain"}'],
    ]);
    expect(escaped!.toRecord()).toEqual({ name: 'n\\x\ty', source_id: 'a\tb\\c ✓', vertical_data: { id: 'a\tb\\c ✓' } });
  });

  test('a name whose text is longer than its COPY text (bytes that are not UTF-8, an escape) still fits its room', () => {
    // Not from a real server (it sends a UTF-8 client only UTF-8), but the buffer must hold whatever a source sends.
    const name = Buffer.concat([Buffer.from('n\\t'), Buffer.alloc(30, 0xe9)]);
    for (let slabBytes = 40; slabBytes <= 200; slabBytes++) {
      const records = page(COLUMNS, slabBytes);
      records.line(Buffer.from('1\tfirst\t\t7\n'));
      records.line(Buffer.concat([Buffer.from('2\t'), name, Buffer.from('\tok\t8\n')]));
      records.line(Buffer.from('3\tlast\t\t9\n'));
      const [, made] = records.rows() as ReadyRecord[];
      expect(sent(made!), `a buffer of ${slabBytes} bytes`).toEqual([
        'n\t' + '\ufffd'.repeat(30),
        '2',
        's:2',
        '{"id":2,"note":"ok","n":8}',
      ]);
    }
  });

  test("a double's text longer than 15 digits (PostgreSQL before 12) is written as the double's JSON", () => {
    const records = page([
      ['id', 23],
      ['name', 25],
      ['f', 701],
    ]);
    for (const [id, text] of ['0.100000000000000006', '1.5', '1e-05', '-0', '123456789012345678', 'NaN'].entries())
      records.line(Buffer.from(`${id}\tn\t${text}\n`));
    records.line(Buffer.from('99\tlast\t1\n'));
    // As the document's text: jsonb keeps a number's every digit.
    const texts = records
      .rows()
      .slice(0, -1)
      .map((r) => /"f":(.*)\}$/.exec((r as ReadyRecord).data)![1]);
    expect(texts).toEqual(['0.1', '1.5', '1e-05', '0', '123456789012345680', '"NaN"']);
  });

  test('a jsonb object is written from its COPY text as splicedJsonb writes its JSON, or the row is decoded where it refuses', () => {
    const objects = [
      '{}',
      '{"a": 1}',
      '{"a": 1.50, "b": -0.000, "c": 2.0, "d": [1.10, {"e": 100}], "f": -0}',
      '{"n": 123456789012345, "m": 1234567890123456, "p": 0.100000000000000, "q": 12345678901234.50}',
      '{"x": 1e5}',
      '{"x": 1.5E-3}',
      '{"s": "quote \\" and backslash \\\\ and tab \\t and newline \\n, / \\/ ✓ 😀"}',
      '{"s": "\\u0001"}',
      '{"__proto__": 1}',
      '{"a": "constructor"}',
      '{"prototype": {"b": 1}}',
      '{"constructors": 1, "_proto_": 2}',
      '{"k": "{[\\"]}", "l": "1.50"}',
      '{"t": true, "f": false, "z": null, "u": "ünï"}',
      '[1, 2]',
      '"text"',
      `{"deep": ${'['.repeat(15)}1.0${']'.repeat(15)}}`,
      `{"deep": ${'['.repeat(16)}1${']'.repeat(16)}}`,
      '{"a": 1}x',
      '{"a": [1, 2}',
    ];
    const records = page([
      ['id', 23],
      ['name', 25],
      ['doc', 3802],
    ]);
    // jsonb's text as COPY writes it: every backslash doubled.
    for (const [id, json] of objects.entries()) records.line(Buffer.from(`${id}\tn\t${json.replaceAll('\\', '\\\\')}\n`));
    records.line(Buffer.from('99\tlast\t{}\n'));
    const out = records.rows().slice(0, -1);
    // Not jsonb's output (it writes no control character outside a string), but what a source might send: decoded.
    const escapeOutside = page([
      ['id', 23],
      ['name', 25],
      ['doc', 3802],
    ]);
    for (const line of ['1\tn\t{"a":\\n 1}\n', '2\tn\t{}\n']) escapeOutside.line(Buffer.from(line));
    const [decoded] = escapeOutside.rows();
    expect(decoded).not.toBeInstanceOf(ReadyRecord);
    expect(JSON.parse(JSON.stringify(decoded))).toEqual({ id: 1, name: 'n', doc: { a: 1 } });
    for (const [id, json] of objects.entries()) {
      const expected = splicedJsonb(json);
      const made = out[id];
      if (expected === null) expect(made, json).not.toBeInstanceOf(ReadyRecord);
      else expect((made as ReadyRecord).data, json).toBe(`{"id":${id},"doc":${expected}}`);
    }
  });
});
