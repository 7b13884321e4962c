import type { FastifyInstance } from 'fastify';
import { validateStoredDefinition } from '../../../connectors/connector-config';
import type { Cursor, CursorScalar } from '../../../connectors/contract';
import { ConfigError } from '../../../connectors/config-error';
import { ConnectorError } from '../../../connectors/connector-error';
import { createConnector } from '../../../connectors/registry';
import { SourceDeniedError } from '../../../connectors/source-denied-error';
import { connectorLocked, tryLockConnector } from '../../../jobs/connector-lock';
import { settleCancelled } from '../../../jobs/run-recovery';
import { withTransaction } from '../../db/pool';
import { ProblemType } from '../../problem-types';
import { sourcePolicy } from '../../source-policy';
import { activeRun, getRun, requestCancel } from '../../store/connector-runs';
import { getConnectorState, setConnectorCursor } from '../../store/connector-state';
import { getConnector, getConnectorInput, setPaused } from '../../store/connectors';
import { addRunEvent, listRunEvents } from '../../store/run-events';
import { HttpError, notFound } from '../http-error';
import { pullQueueIfReady } from '../pull-queue-access';
import { syncSchedule } from '../schedule-sync';
import { errorResponse, idParams, timestamp, uuid } from '../schemas';

/**
 * Operators' control of a connector's runs: cancel a run, pause and resume the connector, set its position by hand,
 * and read what happened during a run.
 */
const runParams = { type: 'object', required: ['id', 'run_id'], properties: { id: uuid, run_id: uuid } } as const;
const scalar = { type: ['string', 'number', 'boolean', 'null'] } as const;

const eventView = {
  type: 'object',
  required: ['id', 'at', 'kind', 'detail'],
  properties: {
    id: { type: 'integer' },
    at: timestamp,
    kind: {
      type: 'string',
      description:
        'started, batch, retrying, held_back, schema_drift, succeeded, failed, skipped, cancel_requested, cancelled, state_set, notification_sent, notification_failed',
    },
    detail: { type: 'object', additionalProperties: true },
  },
} as const;

export async function runControlRoutes(app: FastifyInstance) {
  const scope = { scopes: ['connectors' as const] };

  const load = async (tenantId: string, id: string) => {
    const c = await getConnector(app.pool, tenantId, id);
    if (!c) throw notFound('Connector');
    return c;
  };
  const loadRun = async (tenantId: string, id: string, runId: string) => {
    await load(tenantId, id);
    const run = await getRun(app.pool, runId);
    if (!run || run.connector_id !== id) throw notFound('Run');
    return run;
  };

  app.post<{ Params: { id: string; run_id: string } }>(
    '/connectors/:id/runs/:run_id/cancel',
    {
      config: scope,
      schema: {
        summary: 'Cancel a run: a queued run ends at once, a running pull after committing its current batch (within seconds)',
        tags: ['connectors'],
        params: runParams,
        response: {
          200: {
            type: 'object',
            required: ['run_id', 'status'],
            properties: { run_id: uuid, status: { type: 'string', enum: ['cancelled', 'cancel_requested'] } },
          },
          409: errorResponse('The run has already finished'),
        },
      },
    },
    async (req) => {
      const run = await loadRun(req.principal!.tenantId, req.params.id, req.params.run_id);
      const status = await requestCancel(app.pool, run.id);
      if (status === null)
        throw new HttpError(409, `This run has already ${run.status === 'skipped' ? 'been skipped' : run.status}; nothing to cancel.`);
      await addRunEvent(app.pool, run.id, 'cancel_requested');
      // No worker holds the connector: the run is queued or waiting out a retry's backoff, and ends now. A job a worker
      // takes meanwhile cannot be removed; that worker finds the run cancelled (or the request) before it reads anything.
      if (!(await connectorLocked(app.pool, run.connector_id))) {
        // Redis away: the job stays, and the worker that takes it later finds the run cancelled.
        const queue = await pullQueueIfReady(app);
        const job = run.job_id && queue ? await queue.getJob(run.job_id) : undefined;
        if (!job || (await job.getState()) !== 'active') {
          await job?.remove().catch(() => {});
          if (await settleCancelled(app.pool, run.id)) return { run_id: run.id, status: 'cancelled' };
        }
      }
      return { run_id: run.id, status: 'cancel_requested' };
    },
  );

  app.get<{ Params: { id: string; run_id: string }; Querystring: { after: number; limit: number } }>(
    '/connectors/:id/runs/:run_id/events',
    {
      config: scope,
      schema: {
        summary: 'What happened during a run, in order: started, each committed batch, retries, held-back rows, its end',
        tags: ['connectors'],
        params: runParams,
        querystring: {
          type: 'object',
          properties: {
            after: { type: 'integer', minimum: 0, default: 0, description: 'only events after this event id (to follow a run)' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 200 },
          },
        },
        response: { 200: { type: 'array', items: eventView } },
      },
    },
    async (req) => {
      const run = await loadRun(req.principal!.tenantId, req.params.id, req.params.run_id);
      return listRunEvents(app.pool, run.id, req.query.after, req.query.limit);
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { id: string }; Body: { reason?: string } | null }>(
      `/connectors/:id/${action}`,
      {
        config: scope,
        schema: {
          summary:
            action === 'pause'
              ? 'Pause a connector: no scheduled runs, manual pulls refused (409), its position kept; the same switch as enabled: false'
              : 'Resume a paused connector: its schedule runs again from the committed position',
          tags: ['connectors'],
          params: idParams,
          body: {
            type: ['object', 'null'],
            properties:
              action === 'pause' ? { reason: { type: 'string', maxLength: 500, description: 'shown to whoever tries to pull' } } : {},
            additionalProperties: false,
          },
        },
      },
      async (req) => {
        const tenantId = req.principal!.tenantId;
        const paused = action === 'pause';
        const c = await setPaused(app.pool, tenantId, req.params.id, paused, paused ? (req.body?.reason ?? null) : null);
        if (!c) throw notFound('Connector');
        await syncSchedule(app, tenantId, c.id, c);
        return c;
      },
    );
  }

  app.put<{ Params: { id: string }; Body: { cursor: { value: CursorScalar; key: CursorScalar[] } } }>(
    '/connectors/:id/state',
    {
      config: scope,
      schema: {
        summary: 'Set the committed position: the next incremental run reads strictly after it; recorded in the run history',
        tags: ['connectors'],
        params: idParams,
        body: {
          type: 'object',
          required: ['cursor'],
          additionalProperties: false,
          properties: {
            cursor: {
              type: 'object',
              required: ['value', 'key'],
              additionalProperties: false,
              properties: {
                value: { ...scalar, description: "the cursor column's value, in the form runs show it (ISO 8601 for timestamps)" },
                key: {
                  type: 'array',
                  items: scalar,
                  maxItems: 16,
                  description: 'the tie-breaker key values, in key order ([] when the cursor is the key)',
                },
              },
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['cursor', 'last_pull', 'updated_at', 'run_id'],
            properties: {
              cursor: { description: 'the committed position now' },
              last_pull: { type: ['string', 'null'] },
              updated_at: timestamp,
              run_id: { ...uuid, description: 'the run history entry that records the change' },
            },
          },
          409: errorResponse('A run of this connector is queued or running'),
        },
      },
    },
    async (req) => {
      const tenantId = req.principal!.tenantId;
      const input = await getConnectorInput(app.pool, app.box, tenantId, req.params.id);
      if (!input) throw notFound('Connector');
      const cursor: Cursor = { value: req.body.cursor.value, key: req.body.cursor.key };
      const lock = await tryLockConnector(app.pool, req.params.id);
      if (!lock) throw new HttpError(409, 'A run of this connector is in progress; set the position when it has finished (or cancel it).');
      try {
        const active = await activeRun(app.pool, req.params.id);
        if (active) {
          throw new HttpError(
            409,
            `A run of this connector is ${active.status}; set the position when it has finished (or cancel it).`,
            {},
            {
              run_id: active.id,
            },
          );
        }
        await checkCursorFits(input, cursor, (await getConnectorState(app.pool, req.params.id)).last_pull);
        const runId = await withTransaction(app.pool, (tx) => setConnectorCursor(tx, req.params.id, tenantId, cursor));
        return { ...(await getConnectorState(app.pool, req.params.id)), run_id: runId };
      } finally {
        await lock.release();
      }
    },
  );

  /**
   * Reads the first row after `cursor` the way the next run will: the planner and the source check the value against
   * the cursor column's type and the key against the connector's key (the checks `initial_value` gets).
   */
  async function checkCursorFits(input: Parameters<typeof validateStoredDefinition>[0], cursor: Cursor, lastPull: string | null) {
    const invalid = (msg: string) => new HttpError(422, [{ loc: ['body', 'cursor'], msg, type: ProblemType.valueError }]);
    let definition;
    try {
      definition = validateStoredDefinition(input);
    } catch (err) {
      if (err instanceof ConfigError) throw invalid(`the stored definition is not valid: ${err.message}`);
      throw err;
    }
    if (!definition.cursor?.column)
      throw invalid('this connector has no cursor column: it reads its source whole, so it has no position to set');
    let source;
    try {
      source = await createConnector(definition, await sourcePolicy(app.pool, app.config.sourceRules));
      const now = await source.clock();
      const plan = { mode: 'incremental' as const, cursor, now, lastPull, batchSize: 1 };
      const stop = new AbortController();
      for await (const _batch of source.read(plan, stop.signal)) break;
    } catch (err) {
      if (err instanceof ConnectorError && (err.kind === 'config' || err.kind === 'syntax')) throw invalid(asGiven(err.message));
      if (err instanceof ConnectorError || err instanceof SourceDeniedError) {
        throw new HttpError(409, `The source could not check the position (${err.message}); nothing was changed.`);
      }
      throw err;
    } finally {
      await source?.close().catch(() => {});
    }
  }
}

/** The planner words its checks for a position already committed; here the position is the one just given. */
function asGiven(message: string): string {
  return message
    .replace(/^the committed cursor/, 'the cursor given')
    .replace(/ - the column no longer holds the values it held.*$/, " - give a value of the column's type, as runs show it")
    .replace(/ - the key or tie-breaker changed since the last run.*$/, ' - give one key value per key column, in key order');
}
