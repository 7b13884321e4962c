import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Ingestion } from '../../core/ingestion';
import type { SourceType } from '../../core/ingestions';
import { ProblemType } from '../../problem-types';
import { HttpError } from '../http-error';
import { parseRecordsBody } from '../json-body';
import { errorResponse, problemList, targetParams } from '../schemas';
import { claimSignature, forgetOldSignatures, releaseSignature, verifyWebhookSignature } from '../webhook-signature';

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
    throw new HttpError(422, [{ loc: ['body'], msg: 'the body must be a JSON object with a "records" array', type: ProblemType.object }]);
  }
  const records = (body as { records?: unknown }).records;
  if (!Array.isArray(records)) {
    throw new HttpError(422, [
      records === undefined
        ? { loc: ['body', 'records'], msg: 'field required', type: ProblemType.missing }
        : { loc: ['body', 'records'], msg: 'records must be an array of record objects', type: ProblemType.list },
    ]);
  }
  if (records.length > MAX_BATCH_RECORDS) {
    throw new HttpError(
      413,
      `A batch holds at most ${MAX_BATCH_RECORDS.toLocaleString('en')} records; this one has ${records.length.toLocaleString('en')}. Split it, or use the NDJSON stream endpoint.`,
    );
  }
  if (records.length === 0) {
    throw new HttpError(422, [{ loc: ['body', 'records'], msg: 'records must hold at least one record', type: ProblemType.empty }]);
  }
  const target = { tenantId: req.principal!.tenantId, vertical: req.params.vertical, entityType: req.params.entity_type };
  const ingestion = await Ingestion.open(app.pool, target, { type: sourceType });
  let result;
  try {
    result = await ingestion.write(await ingestion.prepare(records), { returnIds: true });
  } catch (err) {
    await ingestion.fail('the batch could not be written');
    throw err;
  }
  const closed = (await ingestion.finish())!;
  const errors = result.rejections.flatMap((r) =>
    r.problems.map((p) => ({ loc: ['body', 'records', r.position, ...p.loc], msg: p.msg, type: p.type })),
  );
  if (result.rejected === records.length) {
    throw new HttpError(422, errors, {}, { ingestion_id: closed.id });
  }
  return {
    ingestion_id: closed.id,
    status: closed.status,
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

export async function ingestRoutes(app: FastifyInstance) {
  app.post<{ Params: TargetParams }>(
    '/ingest/:vertical/:entity_type/batch',
    {
      config: { scopes: ['ingest'], rawBody: true, records: true },
      schema: { summary: 'Batch ingest JSON records', tags: ['ingestion'], params: targetParams, body: batchBody, response: batchResponse },
      // Parsed here, before the body schema is checked, so that numbers are kept exactly.
      preValidation: async (req) => {
        if (!Buffer.isBuffer(req.body)) throw new HttpError(415, 'Send the batch as application/json.');
        req.body = parseRecordsBody(req.body);
      },
    },
    (req) => ingestRequest(app, req, req.body, 'batch'),
  );

  const signing = app.config.webhookSecret
    ? {
        secret: app.config.webhookSecret,
        toleranceSeconds: app.config.webhookToleranceSeconds,
        acceptBodyOnly: app.config.webhookAcceptBodyOnly,
      }
    : null;
  // Old signatures are deleted by the process that accepts a call, at most once per window (or minute).
  let lastForget = 0;
  const forgetOld = async () => {
    if (!signing || Date.now() - lastForget < Math.min(60, signing.toleranceSeconds) * 1000) return;
    lastForget = Date.now();
    await forgetOldSignatures(app.pool, signing.toleranceSeconds).catch((err) =>
      app.log.warn({ err: (err as Error).message }, 'could not delete old webhook signatures'),
    );
  };

  app.post<{ Params: TargetParams }>(
    '/webhooks/ingest/:vertical/:entity_type',
    {
      config: { scopes: ['ingest'], rawBody: true, records: true },
      schema: {
        summary: 'Webhook push, verified with HMAC-SHA256 when WEBHOOK_SECRET is set (timestamped: replays are refused)',
        tags: ['ingestion'],
        params: targetParams,
        // Documents the body; the handler reads the raw bytes (the signature covers them) and parses them itself.
        body: batchBody,
        headers: {
          type: 'object',
          properties: {
            'x-webhook-signature': {
              type: 'string',
              description: 'sha256=<hex HMAC-SHA256 of "<X-Webhook-Timestamp>.<raw body>"> (or of the raw body alone, where accepted)',
            },
            'x-webhook-timestamp': { type: 'string', description: 'Unix time in seconds at which the call was signed' },
          },
        },
        response: {
          ...batchResponse,
          409: errorResponse('This signed call was received before (a replay): sign a new call with a new timestamp'),
        },
      },
    },
    async (req) => {
      if (!Buffer.isBuffer(req.body)) throw new HttpError(415, 'Send the webhook body as application/json.');
      if (!signing) return ingestRequest(app, req, parseRecordsBody(req.body), 'webhook');
      const headers = { signature: req.headers['x-webhook-signature'], timestamp: req.headers['x-webhook-timestamp'] };
      const verified = verifyWebhookSignature(signing, req.body, headers);
      if (verified.scheme === 'body-only') return ingestRequest(app, req, parseRecordsBody(req.body), 'webhook');
      if (!(await claimSignature(app.pool, req.principal!.tenantId, verified.digest, verified.signedAt))) {
        throw new HttpError(409, 'This signed call was received before: a replay is refused. Sign each new call with its own timestamp.');
      }
      try {
        const result = await ingestRequest(app, req, parseRecordsBody(req.body), 'webhook');
        await forgetOld();
        return result;
      } catch (err) {
        await releaseSignature(app.pool, verified.digest).catch(() => {});
        throw err;
      }
    },
  );
}
