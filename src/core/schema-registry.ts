import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Queryable } from '../db/pool';
import { ProblemType, schemaProblem } from '../problem-types';
import type { RecordProblem } from './record';

// ajv-formats ships CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

/** A fresh Ajv per schema: two tenants' schemas with one `$id` must not collide in a shared instance. */
function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv;
}

/** Compiled validators by tenant/vertical/entity_type/version: each schema version compiles once. */
const compiled = new Map<string, ValidateFunction>();

export interface StoredSchema {
  vertical: string;
  entity_type: string;
  version: number;
  schema: Record<string, unknown>;
  created_at: string;
}

/** Problems with a JSON Schema itself, empty when it is a valid schema. */
export function schemaProblems(schema: unknown): RecordProblem[] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    return [{ loc: ['body', 'schema'], msg: 'schema must be a JSON Schema object', type: ProblemType.object }];
  }
  const ajv = newAjv();
  if (!ajv.validateSchema(schema)) {
    return (ajv.errors ?? []).map((e) => ({
      loc: ['body', 'schema', ...pathOf(e.instancePath)],
      msg: e.message ?? 'invalid',
      type: ProblemType.invalidSchema,
    }));
  }
  try {
    ajv.compile(schema);
  } catch (err) {
    return [{ loc: ['body', 'schema'], msg: (err as Error).message, type: ProblemType.invalidSchema }];
  }
  return [];
}

function pathOf(pointer: string): string[] {
  return pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
}

export function validationProblems(errors: ErrorObject[] | null | undefined): RecordProblem[] {
  return (errors ?? []).map((e) => {
    const loc = ['vertical_data', ...pathOf(e.instancePath)];
    if (e.keyword === 'required') loc.push(String((e.params as { missingProperty: string }).missingProperty));
    return { loc, msg: e.message ?? 'invalid', type: schemaProblem(e.keyword) };
  });
}

export async function registerSchema(
  db: Queryable,
  tenantId: string,
  vertical: string,
  entityType: string,
  schema: object,
): Promise<StoredSchema> {
  const { rows } = await db.query<StoredSchema>(
    `insert into schemas (tenant_id, vertical, entity_type, version, schema)
     select $1, $2, $3, coalesce(max(version), 0) + 1, $4 from schemas where tenant_id = $1 and vertical = $2 and entity_type = $3
     returning vertical, entity_type, version, schema, created_at`,
    [tenantId, vertical, entityType, schema],
  );
  return rows[0]!;
}

export async function listSchemas(db: Queryable, tenantId: string, vertical?: string): Promise<StoredSchema[]> {
  const { rows } = await db.query<StoredSchema>(
    `select distinct on (vertical, entity_type) vertical, entity_type, version, schema, created_at
       from schemas where tenant_id = $1 and ($2::text is null or vertical = $2)
      order by vertical, entity_type, version desc`,
    [tenantId, vertical ?? null],
  );
  return rows;
}

export async function latestSchema(db: Queryable, tenantId: string, vertical: string, entityType: string): Promise<StoredSchema | null> {
  const { rows } = await db.query<StoredSchema>(
    `select vertical, entity_type, version, schema, created_at from schemas
      where tenant_id = $1 and vertical = $2 and entity_type = $3 order by version desc limit 1`,
    [tenantId, vertical, entityType],
  );
  return rows[0] ?? null;
}

/** The validator of the latest schema for a target, or null when none is registered. */
export async function validatorFor(
  db: Queryable,
  tenantId: string,
  vertical: string,
  entityType: string,
): Promise<ValidateFunction | null> {
  const { rows } = await db.query<{ version: number }>(
    'select max(version) as version from schemas where tenant_id = $1 and vertical = $2 and entity_type = $3',
    [tenantId, vertical, entityType],
  );
  const version = rows[0]?.version;
  if (version == null) return null;
  const key = `${tenantId}/${vertical}/${entityType}/${version}`;
  let validate = compiled.get(key);
  if (!validate) {
    const stored = await latestSchema(db, tenantId, vertical, entityType);
    validate = newAjv().compile(stored!.schema);
    compiled.set(key, validate);
  }
  return validate;
}
