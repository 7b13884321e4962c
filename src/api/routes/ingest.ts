import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ingest } from '../../core/ingest';
import { createIngestion, finishIngestion, type SourceType } from '../../core/ingestions';
import { HttpError } from '../http-error';
import { parseRecordsBody } from '../json-body';
import { problemList, targetParams } from '../schemas';

export const MAX_BATCH_RECORDS = 10_000;

interface TargetParams {
  vertical: string;
  entity_type: string;
}

const batchResponse = {
  200: {
    type: 'object',
    properties: {
      ingestion_id: { type: 'string' },
      status: { type: 'string' },
      record_count: { type: 'integer' },
      inserted: { type: 'integer' },
      updated: { type: 'integer' },
      unchanged: { type: 'integer' },
      duplicate_count: { type: 'integer', description: 'records that changed nothing: unchanged plus in-batch duplicates' },
      rejected: { type: 'integer' },
      entity_ids: { type: 'array', items: { type: ['string', 'null'] } },
      errors: problemList,
    },
  },
} as const;

const batchBody = {
  type: 'object',
  description: 'records: at most 10,000, each {name, source_id?, vertical_data?}; other fields fold into vertical_data',
  properties: { records: { type: 'array', items: {} } },
} as const;

/** Shared by batch and webhook: one request, one ingestion, one transaction. */
async function ingestRequest(app: FastifyInstance, req: FastifyRequest<{ Params: TargetParams }>, body: unknown, sourceType: SourceType) {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(422, [{ loc: ['body'], msg: 'the body must be a JSON object with a "records" array', type: 'type_error.object' }]);
  }
  const records = (body as { records?: unknown }).records;
  if (!Array.isArray(records)) {
    throw new HttpError(422, [
      records === undefined
        ? { loc: ['body', 'records'], msg: 'field required', type: 'value_error.missing' }
        : { loc: ['body', 'records'], msg: 'records must be an array of record objects', type: 'type_error.list' },
    ]);
  }
  if (records.length > MAX_BATCH_RECORDS) {
    throw new HttpError(413, `A batch holds at most ${MAX_BATCH_RECORDS.toLocaleString('en')} records; this one has ${records.length.toLocaleString('en')}. Split it, or use the NDJSON stream endpoint.`);
  }
  if (records.length === 0) {
    throw new HttpError(422, [{ loc: ['body', 'records'], msg: 'records must hold at least one record', type: 'value_error.empty' }]);
  }
  const target = { tenantId: req.principal!.tenantId, vertical: req.params.vertical, entityType: req.params.entity_type };
  const ingestionId = await createIngestion(app.pool, target.tenantId, target, sourceType);
  let result;
  try {
    result = await ingest(app.pool, target, records, { ingestionId, returnIds: true, source: sourceType });
  } catch (err) {
    await finishIngestion(app.pool, ingestionId, 'the batch could not be written').catch(() => {});
    throw err;
  }
  const ingestion = await finishIngestion(app.pool, ingestionId);
  const errors = result.rejections.flatMap((r) =>
    r.problems.map((p) => ({ loc: ['body', 'records', r.position, ...p.loc], msg: p.msg, type: p.type })),
  );
  if (result.rejected === records.length) {
    throw new HttpError(422, errors, {}, { ingestion_id: ingestionId });
  }
  return {
    ingestion_id: ingestionId,
    status: ingestion.status,
    record_count: result.records,
    inserted: result.inserted,
    updated: result.updated,
    unchanged: result.unchanged,
    duplicate_count: result.duplicates,
    rejected: result.rejected,
    entity_ids: result.entityIds,
    errors,
  };
}

/** Constant-time check of `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. */
function verifySignature(secret: string, raw: Buffer, header: string | string[] | undefined): void {
  if (typeof header !== 'string' || header === '') {
    throw new HttpError(401, 'Missing X-Webhook-Signature header: send sha256=<hex HMAC-SHA256 of the raw body with WEBHOOK_SECRET>.');
  }
  const expected = createHmac('sha256', secret).update(raw).digest();
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  const given = match ? Buffer.from(match[1]!, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HttpError(401, 'Invalid webhook signature: it must be sha256=<hex HMAC-SHA256 of the exact raw body with WEBHOOK_SECRET>.');
  }
}

export async function ingestRoutes(app: FastifyInstance) {
  app.post<{ Params: TargetParams }>(
    '/ingest/:vertical/:entity_type/batch',
    {
      config: { scopes: ['ingest'], rawBody: true },
      schema: { summary: 'Batch ingest JSON records', tags: ['ingestion'], params: targetParams, body: batchBody, response: batchResponse },
      // Parsed here, before the body schema is checked, so that numbers are kept exactly.
      preValidation: async (req) => {
        if (!Buffer.isBuffer(req.body)) throw new HttpError(415, 'Send the batch as application/json.');
        req.body = parseRecordsBody(req.body);
      },
    },
    (req) => ingestRequest(app, req, req.body, 'batch'),
  );

  app.post<{ Params: TargetParams }>(
    '/webhooks/ingest/:vertical/:entity_type',
    {
      config: { scopes: ['ingest'], rawBody: true },
      schema: {
        summary: 'Webhook push, verified with HMAC-SHA256 when WEBHOOK_SECRET is set',
        tags: ['ingestion'],
        params: targetParams,
        headers: { type: 'object', properties: { 'x-webhook-signature': { type: 'string', description: 'sha256=<hex HMAC-SHA256 of the raw body>' } } },
        response: batchResponse,
      },
    },
    async (req) => {
      if (!Buffer.isBuffer(req.body)) throw new HttpError(415, 'Send the webhook body as application/json.');
      if (app.config.webhookSecret) verifySignature(app.config.webhookSecret, req.body, req.headers['x-webhook-signature']);
      return ingestRequest(app, req, parseRecordsBody(req.body), 'webhook');
    },
  );
}
