import { Readable } from 'node:stream';

/**
 * Deterministic product records: record i is the same on every call, in every process, so a
 * re-post sends identical data and the SQL ceiling loads exactly the rows the API loaded.
 */

const ADJECTIVES = [
  'Compact',
  'Heavy-duty',
  'Precision',
  'Modular',
  'Industrial',
  'Low-noise',
  'Sealed',
  'Reinforced',
  'Portable',
  'High-torque',
];
const MATERIALS = ['steel', 'aluminium', 'brass', 'polymer', 'titanium', 'cast-iron', 'ceramic', 'carbon'];
const NOUNS = ['bearing', 'gear pump', 'valve', 'flange', 'actuator', 'coupling', 'bracket', 'hinge', 'impeller', 'shaft seal'];
const LINES = ['HYD', 'PNE', 'MEC', 'ELE', 'FLX'];
const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF'];
const TAGS = ['spare-part', 'oem', 'rohs', 'atex', 'food-grade', 'bestseller', 'clearance', 'made-in-eu', 'iso-9001', 'heavy'];
const WORDS = [
  'rated',
  'for',
  'continuous',
  'duty',
  'in',
  'corrosive',
  'environments',
  'with',
  'tolerance',
  'of',
  'microns',
  'and',
  'a',
  'service',
  'life',
  'beyond',
  'cycles',
  'under',
  'load',
  'suitable',
  'retrofit',
  'installations',
  'replacement',
];
const BASE_TIME = Date.UTC(2025, 0, 1);

export interface Product {
  source_id: string;
  name: string;
  sku: string;
  price: number;
  currency: string;
  stock: number;
  tags: string[];
  dimensions: { length_mm: number; width_mm: number; height_mm: number; weight_g: number };
  updated_at: string;
  description: string;
}

// mulberry32, with its state at module level: a closure per record cost more than the record itself.
let state = 0;
function rnd(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = Math.imul(state ^ (state >>> 15), state | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function pick(list: readonly string[]): string {
  return list[Math.floor(rnd() * list.length)]!;
}

/** Record i; the same on every call, since the generator is re-seeded from i. */
export function product(i: number): Product {
  state = Math.imul(i + 1, 2654435761) >>> 0;
  const first = pick(TAGS);
  const second = pick(TAGS);
  const tags = first === second ? [first] : [first, second, pick(TAGS)];
  let description = `${pick(ADJECTIVES)} ${pick(NOUNS)}`;
  while (description.length < 100) description += ' ' + pick(WORDS);
  const id = String(i).padStart(8, '0');
  return {
    source_id: `prod-${id}`,
    name: `${pick(ADJECTIVES)} ${pick(MATERIALS)} ${pick(NOUNS)} ${10 + Math.floor(rnd() * 190)} mm`,
    sku: `QX-${pick(LINES)}-${id}`,
    price: Math.round((2 + rnd() * 998) * 100) / 100,
    currency: pick(CURRENCIES),
    stock: Math.floor(rnd() * 5000),
    tags,
    dimensions: {
      length_mm: 10 + Math.floor(rnd() * 990),
      width_mm: 10 + Math.floor(rnd() * 490),
      height_mm: 5 + Math.floor(rnd() * 295),
      weight_g: 20 + Math.floor(rnd() * 25_000),
    },
    updated_at: new Date(BASE_TIME + i * 1000 + Math.floor(rnd() * 1000)).toISOString(),
    description,
  };
}

/** The body of one batch request: `{"records":[…]}` for records start … start+count-1. */
export function batchBody(start: number, count: number): Buffer {
  const parts = new Array<string>(count);
  for (let k = 0; k < count; k++) parts[k] = JSON.stringify(product(start + k));
  return Buffer.from(`{"records":[${parts.join(',')}]}`);
}

/**
 * Records 0 … count-1 as NDJSON, generated as the consumer pulls: one chunk of `linesPerChunk` lines
 * per read(), so memory stays at a chunk or two whatever the total, and a slow server slows us down.
 */
export function ndjsonStream(count: number, onChunk: (bytes: number) => void, linesPerChunk = 256): Readable {
  let next = 0;
  return new Readable({
    read() {
      if (next >= count) {
        this.push(null);
        return;
      }
      const end = Math.min(count, next + linesPerChunk);
      let text = '';
      for (; next < end; next++) text += JSON.stringify(product(next)) + '\n';
      const chunk = Buffer.from(text);
      onChunk(chunk.length);
      this.push(chunk);
    },
  });
}
