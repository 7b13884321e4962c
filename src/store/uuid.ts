const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids read back from Redis or a URL are checked before a query: a malformed one finds nothing instead of failing the statement. */
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
