/** JSON Schemas shared by routes (they also make the OpenAPI document). */
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
    properties: { loc: { type: 'array', items: { type: ['string', 'integer'] } }, msg: { type: 'string' }, type: { type: 'string' } },
  },
} as const;
