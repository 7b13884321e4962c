/**
 * bench/pull/json-text-cpu (issue 18): the core's CPU per record for a jsonb column, parsed (JSON.parse, then stringified
 * with its record) against spliced as text (src/core/json-text.ts), in the same process, alternating. Records of the
 * products shape whose `attributes` document holds `--lines` order lines (1 line ≈ 130 bytes of jsonb text, 20 ≈ 1.6 KB),
 * in batches of 5,000: built, prepared (`prepareBatch`) and written as the statement's document (`entitiesDocument`,
 * encoded to UTF-8 as the driver does). No database: only this work, CPU time of this process.
 *
 *   node --max-semi-space-size=16 --import tsx bench/pull/json-text-cpu.ts [--lines 1] [--batches 20] [--rounds 6]
 */
import { parseArgs } from 'node:util';
import { prepareBatch } from '../../src/core/ingest';
import { JsonText } from '../../src/core/json-text';
import { entitiesDocument } from '../../src/core/upsert-entities';

const { values: opts } = parseArgs({
  options: {
    lines: { type: 'string', default: '1' },
    batches: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '6' },
  },
});
const [lines, batches, rounds] = [opts.lines, opts.batches, opts.rounds].map(Number) as [number, number, number];
const BATCH = 5000;

/** jsonb's text of an attributes document (PostgreSQL's spacing, numeric's trailing zeros). */
const attributes = (i: number) => {
  const items = Array.from(
    { length: lines },
    (_, j) =>
      `{"qty": ${j % 7}, "sku": "SKU-${i}-${j}", "tags": ["a${j}", "b${i % 13}"], "price": ${((i % 1000) / 10 + 0.5).toFixed(4)}, "active": true}`,
  );
  return `{"meta": {"source": "web", "version": 3}, "lines": [${items.join(', ')}]}`;
};

const record = (i: number, asText: boolean) => {
  const text = attributes(i);
  return {
    name: `Product ${i}`,
    source_id: String(i),
    vertical_data: {
      id: i,
      sku: `SKU-${String(i).padStart(8, '0')}`,
      category: 'tools',
      price: '12.99',
      stock: i % 500,
      active: true,
      attributes: asText ? new JsonText(text) : JSON.parse(text),
      description: `Description of product ${i}: 0123456789abcdef0123456789abcdef`,
      updated_at: '2025-01-01T00:00:00.000000Z',
    },
  };
};

console.log(`attributes: ${attributes(1).length} bytes of text; ${batches} batches of ${BATCH} records a round`);
for (let round = 1; round <= rounds; round++) {
  const line: string[] = [];
  for (const asText of [false, true]) {
    const cpu0 = process.cpuUsage();
    let bytes = 0;
    for (let b = 0; b < batches; b++) {
      const records = Array.from({ length: BATCH }, (_, i) => record(b * BATCH + i, asText));
      bytes += Buffer.byteLength(entitiesDocument(prepareBatch(records, null).rows));
    }
    const cpu = process.cpuUsage(cpu0);
    line.push(
      `${asText ? 'spliced' : 'parsed'} ${((cpu.user + cpu.system) / (batches * BATCH)).toFixed(2)} µs a record (${(bytes / 1e6).toFixed(0)} MB)`,
    );
  }
  console.log(`round ${round}: ${line.join(', ')}`);
}
