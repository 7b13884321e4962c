/**
 * JSON Schemas shared by routes (they also make the OpenAPI document). Response schemas document what is
 * sent and are checked by the fuzz (scripts/fuzz-api.sh) and the tests; they never change the body, which is
 * serialized as is (see app.ts).
 */
export const NAME_PATTERN = '^[a-z0-9_-]{1,64}$';

export const targetParams = {
  type: 'object',
  required: ['vertical', 'entity_type'],
  properties: {
    vertical: { type: 'string', pattern: NAME_PATTERN, description: 'lower-case letters, digits, _ and -; 1 to 64 characters' },
    entity_type: { type: 'string', pattern: NAME_PATTERN, description: 'lower-case letters, digits, _ and -; 1 to 64 characters' },
  },
} as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

export const problemList = {
  type: 'array',
  items: {
    type: 'object',
    required: ['loc', 'msg', 'type'],
    properties: { loc: { type: 'array', items: { type: ['string', 'integer'] } }, msg: { type: 'string' }, type: { type: 'string' } },
  },
} as const;

export const timestamp = { type: 'string', format: 'date-time' } as const;
export const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
export const uuid = { type: 'string', format: 'uuid' } as const;

/** Every 422: `{"detail": [{loc, msg, type}]}`, with the ingestion's id when one was created. */
export const validationErrorResponse = {
  description: 'The request is well-formed but a value in it is not acceptable; each problem names its location',
  type: 'object',
  required: ['detail'],
  properties: { detail: problemList, ingestion_id: uuid },
} as const;

/** Every other error: `{"detail": "..."}`, plus the ids a 409 refers to. */
export const errorResponse = (description: string) =>
  ({
    description,
    type: 'object',
    required: ['detail'],
    properties: { detail: { type: 'string' }, run_id: uuid, job_id: { type: ['string', 'null'] } },
  }) as const;

export const noContent = { description: 'Done; no body', type: 'null' } as const;

/** A list page: `items` and the cursor of the next page (null on the last one). */
export const page = (item: object, cursor: object) =>
  ({
    type: 'object',
    required: ['items', 'next_cursor'],
    properties: { items: { type: 'array', items: item }, next_cursor: { anyOf: [cursor, { type: 'null' }] } },
  }) as const;
