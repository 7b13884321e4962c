/**
 * Every `type` a problem can carry: in a 422 answer (`{"detail": [{loc, msg, type}]}`), in a batch's refused
 * records (`errors[].type`) and in an ingestion's DLQ (`problems[].type`). Clients match on these: a code keeps
 * its meaning and is never reused for another. `msg` says what to do; `type` says which rule, in one word.
 * docs/problem-types.md lists the same codes for clients (a unit test keeps the two in step).
 *
 * Data only: the connectors and the core import it without importing anything else.
 */

export const ProblemType = {
  // A field of the request or of a record
  valueError: 'value_error',
  missing: 'value_error.missing',
  empty: 'value_error.empty',
  tooLong: 'value_error.too_long',
  nul: 'value_error.nul',
  unicode: 'value_error.unicode',
  notFinite: 'value_error.number.not_finite',
  datetime: 'value_error.datetime',
  pageCursor: 'value_error.cursor',
  sourceDenied: 'value_error.source_denied',
  invalidSchema: 'value_error.schema',
  object: 'type_error.object',
  list: 'type_error.list',
  str: 'type_error.str',
  // Records
  number: 'value_error.number',
  tooDeep: 'value_error.too_deep',
  forbiddenKey: 'value_error.forbidden_key',
  parse: 'value_error.parse',
  mapping: 'value_error.mapping',
  // A connector definition (create, update, dry run): `loc` is the setting, under `body`
  settingMissing: 'missing',
  settingType: 'invalid_type',
  settingValue: 'invalid_value',
  settingConflict: 'conflict',
  unknownSetting: 'unknown_field',
} as const;

/** A code of the catalog with a fixed spelling. */
export type FixedProblemType = (typeof ProblemType)[keyof typeof ProblemType];

/** Families: the part after the prefix is named when the problem is found. */
export const PROBLEM_FAMILIES = {
  'request.': "the request broke the endpoint's own schema (the OpenAPI document) at this JSON Schema keyword",
  'schema.': 'a record broke the schema registered for its vertical and entity type at this JSON Schema keyword',
  'value_error.sqlstate_': 'the database refused a value no earlier check caught; the SQLSTATE follows (class 22: a data exception)',
} as const;

export type ProblemType = FixedProblemType | `request.${string}` | `schema.${string}` | `value_error.sqlstate_${string}`;

/** The request broke the endpoint's JSON Schema at `keyword` (`request.enum`: a value outside the listed ones). */
export const requestProblem = (keyword: string): ProblemType => `request.${keyword}`;
/** A record broke its registered schema at `keyword` (`schema.required`, `schema.minimum`, …). */
export const schemaProblem = (keyword: string): ProblemType => `schema.${keyword}`;
/** The database refused a value with this SQLSTATE. */
export const sqlstateProblem = (sqlstate: string): ProblemType => `value_error.sqlstate_${sqlstate}`;

/** What each fixed code means, in one line. */
export const PROBLEM_MEANINGS: Readonly<Record<FixedProblemType, string>> = {
  value_error: 'a field has a value this endpoint does not take; the message says which and what to send',
  'value_error.missing': "a required field is missing (a request's field, a batch's records, a record's name)",
  'value_error.empty': 'a list or text that must hold something is empty (a batch without records, a blank name)',
  'value_error.too_long': "text longer than allowed (a record's name in characters, its source_id in bytes)",
  'value_error.nul': 'text holds a NUL character (\\u0000), which cannot be stored',
  'value_error.unicode': 'text holds an unpaired UTF-16 surrogate, which is no character and cannot be stored',
  'value_error.number.not_finite': 'a number that is not finite (1e400, Infinity): only finite numbers are stored',
  'value_error.datetime': "not an instant this field takes (an API key's expires_at: ISO 8601, in the future)",
  'value_error.cursor': 'a page cursor this listing did not hand out: pass next_cursor of the previous page',
  'value_error.source_denied':
    "the connector's source or notify URL is one it may not reach (the platform's database, a denied or internal host)",
  'value_error.schema': 'the JSON Schema given to register is not a valid schema',
  'type_error.object': 'must be a JSON object',
  'type_error.list': 'must be a JSON array',
  'type_error.str': "must be a string (a record's name; its source_id: a string or a number)",
  'value_error.number': 'a number a record holds that cannot be stored exactly',
  'value_error.too_deep': 'a record nested deeper than the limit',
  'value_error.forbidden_key': 'a key no record may hold (__proto__, constructor, prototype)',
  'value_error.parse': 'a line of an NDJSON stream that is not a JSON value',
  'value_error.mapping': 'a source row a connector could not turn into a record (no usable name, no source_id)',
  missing: 'a connector setting that is required is absent',
  invalid_type: 'a connector setting of the wrong kind (text where a list goes, …)',
  invalid_value: 'a connector setting whose value is refused (out of range, unknown, or text a connector may not run)',
  conflict: 'connector settings that cannot go together (query and table, …)',
  unknown_field: 'a connector setting that does not exist (typos never pass silently)',
};

const FIXED: ReadonlySet<string> = new Set(Object.values(ProblemType));

/** True for a code of the catalog: a fixed one, or a family's prefix followed by a name. */
export function isProblemType(value: string): value is ProblemType {
  return FIXED.has(value) || Object.keys(PROBLEM_FAMILIES).some((prefix) => value.startsWith(prefix) && value.length > prefix.length);
}
