/**
 * JSON numbers kept exactly. `JSON.parse` turns every number into a double, so `12345678901234567890`
 * becomes `12345678901234567000` and `1e400` becomes Infinity (then `null`). Here a number that a double
 * holds exactly stays a plain number, and any other one becomes `JSON.rawJSON(text)`, which
 * `JSON.stringify` writes back digit for digit and jsonb stores exactly (as numeric).
 *
 * A number is kept by its value, not its spelling, the way jsonb compares them: `1`, `1.0`, `1e0` and
 * `10e-1` are all the double 1; `12345678901234567890.50` is kept as the raw text `12345678901234567890.5`
 * (no exponent, no trailing zeros). So every value has one form, which the content hash relies on.
 * A number beyond a double's range (a double would make it Infinity or 0) is kept as it was sent, for the
 * core to refuse the record that holds it (see `exactNumberProblem`).
 */

export interface RawJson {
  readonly rawJSON: string;
}

declare global {
  interface JSON {
    rawJSON(text: string): RawJson;
    isRawJSON(value: unknown): value is RawJson;
    parse(text: string, reviver: (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown): unknown;
  }
}

/** Whether a value is a number kept as raw text (it is an object to every other test). */
export const isExactNumber = (value: unknown): value is RawJson => JSON.isRawJSON(value);

/** sign × digits × 10^exponent, digits without leading or trailing zeros ('' for zero). */
interface Decimal {
  negative: boolean;
  digits: string;
  exponent: number;
}

const NUMBER = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

function decimal(text: string): Decimal {
  const m = NUMBER.exec(text)!;
  const fraction = m[3] ?? '';
  const all = (m[2]! + fraction).replace(/^0+/, '');
  const digits = all.replace(/0+$/, '');
  if (digits === '') return { negative: false, digits: '', exponent: 0 };
  return { negative: m[1] === '-', digits, exponent: Number(m[4] ?? 0) - fraction.length + (all.length - digits.length) };
}

/** The plain notation of a decimal, as PostgreSQL's numeric prints it: no exponent, no trailing zeros. */
function plain(d: Decimal): string {
  if (d.digits === '') return '0';
  const sign = d.negative ? '-' : '';
  if (d.exponent >= 0) return sign + d.digits + '0'.repeat(d.exponent);
  const point = d.digits.length + d.exponent;
  return sign + (point > 0 ? d.digits.slice(0, point) + '.' + d.digits.slice(point) : '0.' + '0'.repeat(-point) + d.digits);
}

/** The number itself when its double is exact, else its raw text (canonical when it fits in a double). */
function exactValue(value: number, source: string): number | RawJson {
  if (String(value) === source) return value;
  const exact = decimal(source);
  if (!Number.isFinite(value) || (value === 0 && exact.digits !== '')) return JSON.rawJSON(source);
  const nearest = decimal(String(value));
  const same = nearest.negative === exact.negative && nearest.digits === exact.digits && nearest.exponent === exact.exponent;
  return same || exact.digits === '' ? value : JSON.rawJSON(plain(exact));
}

const keepExact = (_key: string, value: unknown, context: { source?: string }) => (typeof value === 'number' ? exactValue(value, context.source!) : value);

/**
 * Number tokens that may differ from their double: 16 or more digits, or an exponent (any decimal of up to
 * 15 significant digits inside the normal range survives the round trip). Text inside strings can match
 * too; it only costs a closer look.
 */
const CANDIDATES = /(?:^|[:,[])\s*(-?\d(?:[\d.]{15}[\d.]*(?:[eE][+-]?\d+)?|[\d.]*[eE][+-]?\d+))/g;

/** Whether plain `JSON.parse` would keep every number of the text exactly. */
function doublesSuffice(text: string): boolean {
  for (const [, token] of text.matchAll(CANDIDATES)) {
    // Not a JSON number: it sat inside a string.
    if (NUMBER.test(token!) && typeof exactValue(Number(token), token!) !== 'number') return false;
  }
  return true;
}

/** Deeper than this, arrays and objects are cut before the exact parse (its reviver recurses). */
export const EXACT_PARSE_DEPTH = 100;

/**
 * `JSON.parse`, keeping every number exactly; throws SyntaxError like it. Text whose numbers all fit in
 * doubles is parsed natively; otherwise a reviver reads each number's source text. Arrays or objects nested
 * deeper than `EXACT_PARSE_DEPTH` then come back cut (replaced by the string "…"); the core refuses
 * anything that deep anyway.
 */
export function parseExactJson(text: string): unknown {
  if (doublesSuffice(text)) return JSON.parse(text);
  try {
    return JSON.parse(text, keepExact);
  } catch (err) {
    // The reviver walks the parsed tree recursively: a few thousand levels overflow the stack.
    if (!(err instanceof RangeError)) throw err;
    return JSON.parse(cutDeepNesting(text, EXACT_PARSE_DEPTH), keepExact);
  }
}

/** Valid JSON text with every array or object below `depth` levels replaced by the string "…". */
function cutDeepNesting(text: string, depth: number): string {
  let out = '';
  let copied = 0;
  let level = 0;
  let cutFrom = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: its end is the next quote not escaped by an odd run of backslashes.
      for (;;) {
        i = text.indexOf('"', i + 1);
        let backslashes = 0;
        while (text.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++level === depth + 1) cutFrom = i;
    } else if (c === 0x5d || c === 0x7d) {
      if (level-- === depth + 1) {
        out += text.slice(copied, cutFrom) + '"…"';
        copied = i + 1;
      }
    }
  }
  return out + text.slice(copied);
}

/** What is wrong with an exact number for storage, or null; the core refuses the record with it. */
export function exactNumberProblem(n: RawJson): string | null {
  const value = Number(n.rawJSON);
  const shown = n.rawJSON.length > 40 ? n.rawJSON.slice(0, 37) + '…' : n.rawJSON;
  if (!Number.isFinite(value)) return `the number ${shown} is beyond the range of a double (about ±1.8e308); send it as a string`;
  if (value === 0) return `the number ${shown} is too close to zero for a double (the smallest is 5e-324); send it as a string`;
  const point = n.rawJSON.indexOf('.');
  if (point >= 0 && n.rawJSON.length - point - 1 > MAX_FRACTION_DIGITS) {
    return `the number ${shown} has more than ${MAX_FRACTION_DIGITS.toLocaleString('en')} digits after the decimal point, more than PostgreSQL's numeric holds`;
  }
  return null;
}

/** PostgreSQL's numeric keeps at most this many digits after the decimal point. */
export const MAX_FRACTION_DIGITS = 16383;

/** A copy with exact numbers as their nearest doubles: what a JSON Schema validator can compare. */
export function asDoubles(value: unknown): unknown {
  if (isExactNumber(value)) return Number(value.rawJSON);
  if (Array.isArray(value)) return value.map(asDoubles);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asDoubles(v)]));
  return value;
}
