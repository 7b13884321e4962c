import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { parseExactJson } from '../../core/exact-json';
import { Ingestion } from '../../core/ingestion';
import type { RejectedRecord } from '../../core/record';
import { ProblemType } from '../../problem-types';
import { HttpError } from '../http-error';
import { ndjsonLines } from '../ndjson-lines';
import { targetParams } from '../schemas';

export const STREAM_BATCH_RECORDS = 1000;
/** A batch is also written once its lines reach this size: one statement's document stays far below jsonb's 256 MB. */
export const STREAM_BATCH_BYTES = 8 * 1024 * 1024;
export const STREAM_FLUSH_MS = 1000;
export const MAX_LINE_BYTES = 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseLine(bytes: Buffer, truncated: boolean): { record: unknown } | { problem: string } {
  if (truncated) return { problem: `the line is longer than ${MAX_LINE_BYTES} bytes` };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { problem: 'the line is not valid UTF-8' };
  }
  try {
    return { record: parseExactJson(text) };
  } catch (err) {
    return { problem: `invalid JSON: ${(err as Error).message}` };
  }
}

export async function streamRoutes(app: FastifyInstance) {
  // The body reaches the handler as the request stream itself, unread.
  app.addContentTypeParser('application/x-ndjson', (_req, payload, done) => done(null, payload));

  app.post<{ Params: { vertical: string; entity_type: string } }>(
    '/ingest/:vertical/:entity_type/stream',
    {
      config: { scopes: ['ingest'] },
      schema: {
        summary: 'Stream NDJSON records (Content-Type: application/x-ndjson), one JSON object per line',
        tags: ['ingestion'],
        params: targetParams,
        response: {
          200: {
            type: 'object',
            properties: {
              ingestion_id: { type: 'string' },
              status: { type: 'string' },
              accepted: { type: 'integer' },
              inserted: { type: 'integer' },
              updated: { type: 'integer' },
              unchanged: { type: 'integer' },
              duplicate_count: { type: 'integer' },
              rejected: { type: 'integer' },
              parse_errors: { type: 'integer' },
              buffer_size: {
                type: 'integer',
                description:
                  'records of this stream still buffered, not yet written, when the answer was sent: 0, since the answer waits for the last write',
              },
              flushed: { type: 'boolean', description: 'whether a batch (records or unparsable lines) was written during this request' },
            },
          },
        },
      },
    },
    async (req) => {
      const body = req.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function') {
        throw new HttpError(415, 'Send the stream with Content-Type: application/x-ndjson, one JSON record per line.');
      }
      if (app.pending.full) {
        throw new HttpError(429, `Too many streamed records are waiting to be written (limit ${app.pending.limit}); retry in a second.`, {
          'retry-after': '1',
        });
      }
      const target = { tenantId: req.principal!.tenantId, vertical: req.params.vertical, entityType: req.params.entity_type };
      const ingestion = await Ingestion.open(app.pool, target, { type: 'stream' });
      let parseErrorCount = 0;
      let records: unknown[] = [];
      let positions: number[] = [];
      let parseErrors: RejectedRecord[] = [];
      let bytes = 0;
      let lastFlush = Date.now();
      let flushes = 0;

      const flush = async () => {
        const batch = records;
        const batchPositions = positions;
        const bad = parseErrors;
        records = [];
        positions = [];
        parseErrors = [];
        bytes = 0;
        lastFlush = Date.now();
        if (batch.length === 0 && bad.length === 0) return;
        flushes++;
        try {
          // Lines that did not parse go to the DLQ with the batch, in its transaction.
          await ingestion.write(await ingestion.prepare(batch, { positions: batchPositions, refused: bad }));
          parseErrorCount += bad.length;
        } finally {
          app.pending.remove(batch.length);
        }
      };

      // A slow sender's records are written within a second even while no new line arrives.
      let flushing: Promise<void> = Promise.resolve();
      let timerError: unknown;
      const timer = setInterval(() => {
        if (records.length && Date.now() - lastFlush >= STREAM_FLUSH_MS) {
          flushing = flushing.then(flush).catch((err) => {
            timerError = err;
          });
        }
      }, STREAM_FLUSH_MS / 4);
      try {
        for await (const line of ndjsonLines(body, MAX_LINE_BYTES)) {
          if (line.bytes.length === 0 || (line.bytes.length < 4 && line.bytes.toString().trim() === '')) continue;
          const parsed = parseLine(line.bytes, line.truncated);
          if ('problem' in parsed) {
            parseErrors.push({
              position: line.number,
              raw: line.bytes.toString('utf8').slice(0, 10_000),
              errorType: 'parse_error',
              problems: [{ loc: ['line', line.number], msg: parsed.problem, type: ProblemType.parse }],
            });
          } else {
            records.push(parsed.record);
            positions.push(line.number);
            bytes += line.bytes.length;
            app.pending.add(1);
          }
          if (
            records.length + parseErrors.length >= STREAM_BATCH_RECORDS ||
            bytes >= STREAM_BATCH_BYTES ||
            Date.now() - lastFlush >= STREAM_FLUSH_MS
          ) {
            await (flushing = flushing.then(flush));
          }
          if (timerError) throw timerError;
        }
        await (flushing = flushing.then(flush));
        if (timerError) throw timerError;
      } catch (err) {
        app.pending.remove(records.length);
        await ingestion.fail('the stream broke off before it was fully written');
        throw err;
      } finally {
        clearInterval(timer);
      }
      const closed = (await ingestion.finish())!;
      const c = ingestion.counts;
      return {
        ingestion_id: closed.id,
        status: closed.status,
        accepted: c.records - c.rejected,
        inserted: c.inserted,
        updated: c.updated,
        unchanged: c.unchanged,
        duplicate_count: c.duplicates,
        rejected: c.rejected - parseErrorCount,
        parse_errors: parseErrorCount,
        buffer_size: records.length,
        flushed: flushes > 0,
      };
    },
  );
}
