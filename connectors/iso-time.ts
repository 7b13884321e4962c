/**
 * Exact arithmetic on ISO 8601 timestamps with microseconds. JS `Date` keeps milliseconds only, so the lag
 * window and `:last_pull` are computed here on integer microseconds instead.
 */

/** The instant `:last_pull` stands for before the first successful run. */
export const EPOCH_ISO = '1970-01-01T00:00:00.000000Z';

const ISO =
  /^([+-]?\d{4,6})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$/i;
const MICROS_PER_DAY = 86_400_000_000n;

/** Whether `text` is an ISO 8601 date or timestamp this module understands. */
export function isIsoTimestamp(text: string): boolean {
  return ISO.test(text);
}

/** Microseconds since 1970-01-01T00:00:00Z; a timestamp without offset is taken as UTC. */
export function isoToMicros(text: string): bigint {
  const m = ISO.exec(text.trim());
  if (!m) throw new RangeError(`not an ISO 8601 timestamp: ${text}`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const days = BigInt(daysFromCivil(Number(y), Number(mo), Number(d)));
  const seconds = BigInt(Number(h) * 3600 + Number(mi) * 60 + Number(s));
  const micros = BigInt((frac + '000000').slice(0, 6));
  return days * MICROS_PER_DAY + seconds * 1_000_000n + micros - BigInt(offsetSeconds(zone)) * 1_000_000n;
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ`, always six fractional digits. */
export function microsToIso(micros: bigint): string {
  let days = micros / MICROS_PER_DAY;
  let rest = micros % MICROS_PER_DAY;
  if (rest < 0n) {
    rest += MICROS_PER_DAY;
    days -= 1n;
  }
  const [y, mo, d] = civilFromDays(Number(days));
  const totalSeconds = Number(rest / 1_000_000n);
  const fraction = String(rest % 1_000_000n).padStart(6, '0');
  const hh = Math.floor(totalSeconds / 3600);
  const mm = Math.floor((totalSeconds % 3600) / 60);
  const ss = totalSeconds % 60;
  return `${formatYear(y)}-${pad2(mo)}-${pad2(d)}T${pad2(hh)}:${pad2(mm)}:${pad2(ss)}.${fraction}Z`;
}

/** `iso` minus `seconds` (fractions down to the microsecond), as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function subtractSeconds(iso: string, seconds: number): string {
  return microsToIso(isoToMicros(iso) - BigInt(Math.round(seconds * 1_000_000)));
}

/** Normalises any accepted ISO timestamp to UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function toUtcIso(iso: string): string {
  return microsToIso(isoToMicros(iso));
}

function offsetSeconds(zone: string | undefined): number {
  if (!zone || zone === 'Z' || zone === 'z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replaceAll(':', '');
  const h = Number(digits.slice(0, 2));
  const m = Number(digits.slice(2, 4) || '0');
  const s = Number(digits.slice(4, 6) || '0');
  return sign * (h * 3600 + m * 60 + s);
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian), exact for any year.
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function formatYear(y: number): string {
  if (y >= 0 && y <= 9999) return String(y).padStart(4, '0');
  return (y < 0 ? '-' : '+') + String(Math.abs(y)).padStart(6, '0');
}
