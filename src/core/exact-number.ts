/**
 * Numbers kept exactly. A number that a double holds exactly stays a plain number; any other becomes
 * `JSON.rawJSON(text)`, which `JSON.stringify` writes back digit for digit and jsonb stores exactly (as
 * numeric).
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

const INTEGER = /^-?[1-9]\d*$/;

/** A number token as JSON defines it. */
export const JSON_NUMBER = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

function decimal(text: string): Decimal {
  const m = JSON_NUMBER.exec(text)!;
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

const MIN_NORMAL = 2.2250738585072014e-308;

/** Significant digits of a number token's mantissa (no leading or trailing zeros), and whether it has an exponent. */
function significance(source: string): { digits: number; exponent: boolean } {
  let digits = 0;
  let trailingZeros = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 0x65 || c === 0x45) return { digits: digits - trailingZeros, exponent: true };
    if (c < 0x30 || c > 0x39 || (digits === 0 && c === 0x30)) continue;
    digits++;
    trailingZeros = c === 0x30 ? trailingZeros + 1 : 0;
  }
  return { digits: digits - trailingZeros, exponent: false };
}

/**
 * The value of the JSON number token `source`: a double when the double holds it exactly, else its raw text
 * (canonical when it fits in a double, as sent when it does not).
 */
export function exactNumber(source: string): number | RawJson {
  const { digits, exponent } = significance(source);
  // A double's shortest form has at most 17 significant digits, so 18 or more never match; without an
  // exponent the canonical text is short to build (and a value out of range is refused by the core).
  if (digits >= 18 && !exponent) return JSON.rawJSON(INTEGER.test(source) ? source : plain(decimal(source)));
  const value = Number(source);
  if (String(value) === source) return value;
  // Up to 15 significant digits survive a double in its normal range.
  if (digits <= 15 && Math.abs(value) >= MIN_NORMAL && Number.isFinite(value)) return value;
  const exact = decimal(source);
  if (!Number.isFinite(value) || (value === 0 && exact.digits !== '')) return JSON.rawJSON(source);
  const nearest = decimal(String(value));
  const same = nearest.negative === exact.negative && nearest.digits === exact.digits && nearest.exponent === exact.exponent;
  return same || exact.digits === '' ? value : JSON.rawJSON(plain(exact));
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
