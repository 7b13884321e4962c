/**
 * BSON values (as the driver returns them with `useBigInt64: true`) → JSON-safe values, and cursor values
 * back to BSON for a filter.
 *
 * | BSON | JSON |
 * |---|---|
 * | ObjectId | 24-digit hex string |
 * | Date | ISO 8601 UTC with milliseconds (BSON dates hold milliseconds): `2026-01-02T03:04:05.123Z` |
 * | Int32, Double | number (`NaN`, `Infinity`, `-Infinity` as strings) |
 * | Int64 (Long) | number, or decimal string beyond ±(2^53 − 1) |
 * | Decimal128 | exact decimal string as stored (`"1234.5600"`, `"1.23E+400"`) |
 * | Binary (UUID, subtype 4) | canonical UUID string |
 * | Binary (other subtypes) | base64 |
 * | Timestamp | `{ t, i }` (seconds, increment) |
 * | RegExp | `/pattern/flags` |
 * | embedded document, array | kept, values mapped recursively |
 * | MinKey, MaxKey, JavaScript code | `"MinKey"`, `"MaxKey"`, the code text |
 * | null, undefined | null |
 */
import { Binary, Decimal128, ObjectId, UUID } from 'mongodb';
import type { CursorScalar } from '../contract';
import { isoToMicros } from '../iso-time';
import { setOwn } from '../own-key';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The BSON type name (`$type` alias) of a driver value; what a cursor or key field holds. */
export type BsonKind = 'objectId' | 'date' | 'long' | 'int' | 'double' | 'decimal' | 'string' | 'bool' | 'uuid' | 'binData' | 'other';

export function bsonKind(value: unknown): BsonKind {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'bigint') return 'long';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'double';
  if (typeof value === 'boolean') return 'bool';
  if (value instanceof Date) return 'date';
  const bsontype = bsonType(value);
  if (bsontype === 'ObjectId') return 'objectId';
  if (bsontype === 'Decimal128') return 'decimal';
  if (bsontype === 'Binary') return (value as Binary).sub_type === Binary.SUBTYPE_UUID ? 'uuid' : 'binData';
  return 'other';
}

function bsonType(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const tag = (value as { _bsontype?: unknown })._bsontype;
  return typeof tag === 'string' ? tag : undefined;
}

/** One driver value → its JSON form. */
export function fromBson(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : String(value);
    case 'bigint':
      return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value.toString();
    case 'object':
      break;
    default:
      return String(value);
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map(fromBson);
  if (value instanceof RegExp) return String(value);
  switch (bsonType(value)) {
    case undefined:
      return fromDocument(value as Record<string, unknown>);
    case 'ObjectId':
      return (value as ObjectId).toHexString();
    case 'Decimal128':
      return (value as Decimal128).toString();
    case 'Long':
      return fromBson((value as { toBigInt(): bigint }).toBigInt());
    case 'Int32':
    case 'Double':
      return fromBson((value as { valueOf(): number }).valueOf());
    case 'Binary': {
      const binary = value as Binary;
      return binary.sub_type === Binary.SUBTYPE_UUID && binary.position === 16
        ? binary.toUUID().toHexString(true)
        : binary.toString('base64');
    }
    case 'Timestamp': {
      const ts = value as { t: number; i: number };
      return { t: ts.t, i: ts.i };
    }
    case 'BSONRegExp': {
      const re = value as { pattern: string; options: string };
      return `/${re.pattern}/${re.options}`;
    }
    case 'Code':
      return (value as { code: string }).code;
    case 'BSONSymbol':
      return String((value as { valueOf(): string }).valueOf());
    case 'MinKey':
    case 'MaxKey':
      return bsonType(value);
    case 'DBRef': {
      const ref = value as { collection: string; oid: unknown; db?: string };
      return { $ref: ref.collection, $id: fromBson(ref.oid), ...(ref.db ? { $db: ref.db } : {}) };
    }
    default:
      return String(value);
  }
}

/** A document → a row: every field mapped (`__proto__` kept as a plain field). */
export function fromDocument(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(doc)) {
    setOwn(out, key, fromBson(doc[key]));
  }
  return out;
}

/**
 * A cursor or key value from a committed cursor (JSON) → the BSON value to compare the field with, by the
 * field's BSON kind (sampled from the collection). Throws `RangeError` saying what would fit when the value cannot
 * be one.
 */
export function toBson(value: CursorScalar, kind: BsonKind | null): unknown {
  if (value === null) return null;
  switch (kind) {
    case 'objectId':
      return typeof value === 'string' && ObjectId.isValid(value) ? new ObjectId(value) : fail('an ObjectId (24 hex digits)');
    case 'date':
      if (typeof value !== 'string') return fail('an ISO 8601 timestamp');
      return isoToDate(value);
    case 'long':
    case 'int':
    case 'double':
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return BigInt(value.trim());
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
      return fail('a number');
    case 'decimal':
      return Decimal128.fromString(String(value));
    case 'uuid':
      return typeof value === 'string' ? new UUID(value) : fail('a UUID');
    case 'binData':
      return typeof value === 'string' ? new Binary(Buffer.from(value, 'base64')) : fail('base64 text');
    default:
      return value;
  }
}

/** An ISO timestamp with any precision → a BSON date (milliseconds, rounded down). */
export function isoToDate(iso: string): Date {
  const micros = isoToMicros(iso);
  const millis = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  return new Date(Number(millis));
}

function fail(expected: string): never {
  throw new RangeError(expected);
}
