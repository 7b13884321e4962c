/**
 * Neo4j driver values → JSON-safe values.
 *
 * | Neo4j | JSON |
 * |---|---|
 * | Integer | number, or decimal string beyond ±(2^53 − 1) |
 * | Float | number (`NaN`, `Infinity`, `-Infinity` as strings) |
 * | DateTime (zoned) | ISO 8601 in UTC, nine fractional digits: `2026-01-02T01:04:05.123456789Z` |
 * | LocalDateTime | ISO 8601 without zone, nine digits: `2026-01-02T03:04:05.000000001` |
 * | Date | `2026-01-02` |
 * | Time | `03:04:05.123456789+02:00` (`Z` for UTC) |
 * | LocalTime | `03:04:05.123456789` |
 * | Duration | ISO 8601 duration: `P1Y2M3DT4H5M6.000000007S`, `PT0S` |
 * | Point | `{ srid, x, y }` or `{ srid, x, y, z }` |
 * | Node | `{ element_id, labels, properties }` |
 * | Relationship | `{ element_id, type, start, end, properties }` (start/end: element ids) |
 * | Path | `{ nodes, relationships }` |
 * | ByteArray | base64 |
 * | List, Map | kept, values mapped |
 */
import neo4j from 'neo4j-driver';
import { civilFromDays, daysFromCivil } from '../iso-time';
import { setOwn } from '../own-key';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** The kind of a cursor or key value, which says how a committed cursor value is bound back. */
export type Neo4jKind = 'integer' | 'float' | 'string' | 'boolean' | 'datetime' | 'localdatetime' | 'date' | 'time' | 'localtime' | 'other';

export function neo4jKind(value: unknown): Neo4jKind {
  if (neo4j.isInt(value)) return 'integer';
  if (typeof value === 'number') return 'float';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (neo4j.isDateTime(value)) return 'datetime';
  if (neo4j.isLocalDateTime(value)) return 'localdatetime';
  if (neo4j.isDate(value)) return 'date';
  if (neo4j.isTime(value)) return 'time';
  if (neo4j.isLocalTime(value)) return 'localtime';
  return 'other';
}

/** An ISO 8601 timestamp (any offset, up to nine fractional digits) → a driver DateTime in UTC. */
export function isoToDateTime(iso: string): InstanceType<typeof neo4j.types.DateTime> {
  const m = /^([+-]?\d{4,6})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(iso.trim());
  if (!m) throw new RangeError(`not an ISO 8601 timestamp: ${iso}`);
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const offset =
    zone.toUpperCase() === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(-2)) * 60);
  return new neo4j.types.DateTime(
    Number(y),
    Number(mo),
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
    Number((frac + '000000000').slice(0, 9)),
    offset,
  );
}

/** A cursor value's ISO text → the driver's temporal value of `kind`, for a user's query parameter. */
export function isoToTemporal(iso: string, kind: 'datetime' | 'localdatetime' | 'date'): unknown {
  if (kind === 'datetime') return isoToDateTime(iso);
  const m = /^([+-]?\d{4,6})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?)?/.exec(iso.trim());
  if (!m) throw new RangeError(`not an ISO 8601 timestamp: ${iso}`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = m;
  if (kind === 'date') return new neo4j.types.Date(Number(y), Number(mo), Number(d));
  return new neo4j.types.LocalDateTime(
    Number(y),
    Number(mo),
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
    Number((frac + '000000000').slice(0, 9)),
  );
}

/** One driver value → its JSON form. */
export function fromNeo4j(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value <= BigInt(MAX_SAFE) && value >= -BigInt(MAX_SAFE) ? Number(value) : value.toString();
  if (neo4j.isInt(value)) return value.inSafeRange() ? value.toNumber() : value.toString();
  if (Array.isArray(value)) return value.map(fromNeo4j);
  if (value instanceof Uint8Array || value instanceof Int8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (neo4j.isDateTime(value)) return dateTimeToUtc(value);
  if (neo4j.isLocalDateTime(value)) return `${datePart(value)}T${timePart(value)}`;
  if (neo4j.isDate(value)) return datePart(value);
  if (neo4j.isTime(value)) return `${timePart(value)}${offsetText(toNumber(value.timeZoneOffsetSeconds))}`;
  if (neo4j.isLocalTime(value)) return timePart(value);
  if (neo4j.isDuration(value)) return durationToIso(value);
  if (neo4j.isPoint(value)) {
    const point = value as { srid: unknown; x: number; y: number; z?: number };
    const out: Record<string, unknown> = { srid: fromNeo4j(point.srid), x: point.x, y: point.y };
    if (point.z !== undefined && point.z !== null) out.z = point.z;
    return out;
  }
  if (neo4j.isNode(value))
    return { element_id: value.elementId, labels: [...value.labels], properties: fromMap(value.properties as Record<string, unknown>) };
  if (neo4j.isRelationship(value)) {
    return {
      element_id: value.elementId,
      type: value.type,
      start: value.startNodeElementId,
      end: value.endNodeElementId,
      properties: fromMap(value.properties as Record<string, unknown>),
    };
  }
  if (neo4j.isPath(value)) {
    const nodes = [value.start, ...value.segments.map((s) => s.end)];
    return { nodes: nodes.map(fromNeo4j), relationships: value.segments.map((s) => fromNeo4j(s.relationship)) };
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return fromMap(value as Record<string, unknown>);
  return String(value);
}

/** A map (properties, a record) → JSON, keys kept as they are. */
export function fromMap(map: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(map)) {
    setOwn(out, key, fromNeo4j(map[key]));
  }
  return out;
}

type NumberLike = number | { toNumber(): number };

function toNumber(value: NumberLike | undefined | null): number {
  if (value === undefined || value === null) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, '0');
}

function yearText(year: number): string {
  if (year >= 0 && year <= 9999) return pad(year, 4);
  return (year < 0 ? '-' : '+') + pad(year, 6);
}

function datePart(v: { year: NumberLike; month: NumberLike; day: NumberLike }): string {
  return `${yearText(toNumber(v.year))}-${pad(toNumber(v.month))}-${pad(toNumber(v.day))}`;
}

function timePart(v: { hour: NumberLike; minute: NumberLike; second: NumberLike; nanosecond: NumberLike }): string {
  return `${pad(toNumber(v.hour))}:${pad(toNumber(v.minute))}:${pad(toNumber(v.second))}.${pad(toNumber(v.nanosecond), 9)}`;
}

function offsetText(seconds: number): string {
  if (seconds === 0) return 'Z';
  const sign = seconds < 0 ? '-' : '+';
  const abs = Math.abs(seconds);
  const text = `${sign}${pad(Math.floor(abs / 3600))}:${pad(Math.floor((abs % 3600) / 60))}`;
  return abs % 60 ? `${text}:${pad(abs % 60)}` : text;
}

const SECONDS_PER_DAY = 86_400;

/** A zoned DateTime as the same instant in UTC, nanoseconds kept. */
function dateTimeToUtc(v: {
  year: NumberLike;
  month: NumberLike;
  day: NumberLike;
  hour: NumberLike;
  minute: NumberLike;
  second: NumberLike;
  nanosecond: NumberLike;
  timeZoneOffsetSeconds?: NumberLike | undefined;
}): string {
  const days = daysFromCivil(toNumber(v.year), toNumber(v.month), toNumber(v.day));
  let seconds =
    days * SECONDS_PER_DAY + toNumber(v.hour) * 3600 + toNumber(v.minute) * 60 + toNumber(v.second) - toNumber(v.timeZoneOffsetSeconds);
  const utcDays = Math.floor(seconds / SECONDS_PER_DAY);
  seconds -= utcDays * SECONDS_PER_DAY;
  const [y, m, d] = civilFromDays(utcDays);
  const time = {
    hour: Math.floor(seconds / 3600),
    minute: Math.floor((seconds % 3600) / 60),
    second: seconds % 60,
    nanosecond: toNumber(v.nanosecond),
  };
  return `${yearText(y)}-${pad(m)}-${pad(d)}T${timePart(time)}Z`;
}

function durationToIso(v: { months: NumberLike; days: NumberLike; seconds: NumberLike; nanoseconds: NumberLike }): string {
  const months = toNumber(v.months);
  const days = toNumber(v.days);
  // Neo4j keeps 0 ≤ nanoseconds < 1e9 and puts the sign in seconds; fold them into one signed amount.
  const totalNanos = BigInt(toNumber(v.seconds)) * 1_000_000_000n + BigInt(toNumber(v.nanoseconds));
  let out = 'P';
  const years = Math.trunc(months / 12);
  const restMonths = months % 12;
  if (years) out += `${years}Y`;
  if (restMonths) out += `${restMonths}M`;
  if (days) out += `${days}D`;
  if (totalNanos !== 0n) {
    const negative = totalNanos < 0n;
    const abs = negative ? -totalNanos : totalNanos;
    const secondsTotal = abs / 1_000_000_000n;
    const nanos = abs % 1_000_000_000n;
    const hours = secondsTotal / 3600n;
    const minutes = (secondsTotal % 3600n) / 60n;
    const secs = secondsTotal % 60n;
    const sign = negative ? '-' : '';
    out += 'T';
    if (hours) out += `${sign}${hours}H`;
    if (minutes) out += `${sign}${minutes}M`;
    if (secs || nanos) out += `${sign}${secs}${nanos ? `.${nanos.toString().padStart(9, '0')}` : ''}S`;
  }
  return out === 'P' ? 'PT0S' : out;
}
