import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

// ajv-formats ships CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

/**
 * Asserts that a response is one the OpenAPI document declares for the operation (`method` and the
 * document's path template, e.g. "/api/v1/connectors/{id}"): its status is listed, and its body matches the
 * declared schema (no body where none is declared). The same check the fuzz makes, for one response.
 */
export function expectDeclared(app: FastifyInstance, method: string, template: string, res: LightMyRequestResponse): void {
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> };
  const operation = doc.paths[template]?.[method.toLowerCase()];
  expect(operation, `${method} ${template} is in the OpenAPI document`).toBeDefined();
  const declared = operation!.responses[String(res.statusCode)];
  expect(declared, `${method} ${template} declares ${res.statusCode} (body: ${res.body.slice(0, 300)})`).toBeDefined();
  const schema = declared!.content?.['application/json']?.schema;
  if (!schema) {
    expect(res.body, `${method} ${template} ${res.statusCode} has no body`).toBe('');
    return;
  }
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  const body: unknown = res.json();
  expect(
    validate(body) ? [] : validate.errors,
    `${method} ${template} ${res.statusCode} body matches its schema: ${res.body.slice(0, 300)}`,
  ).toEqual([]);
}
