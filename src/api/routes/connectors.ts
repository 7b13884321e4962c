import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../../../connectors/config-error';
import { ConnectorError } from '../../../connectors/connector-error';
import { checkSourceReach, createConnector, validateConnectorConfig, validateStoredDefinition } from '../../../connectors/registry';
import { checkMapping } from '../../../connectors/map-record';
import { NOTIFY_EVENTS, type NotifyConfig } from '../../../connectors/notify-config';
import { SourceDeniedError } from '../../../connectors/source-denied-error';
import { PULL_JOB, type PullJobData } from '../../../jobs/pull-queue';
import type { CursorScalar } from '../../../connectors/contract';
import { recoverRuns } from '../../../jobs/run-recovery';
import { scheduleProblem } from '../../../jobs/schedule';
import {
  activeRun,
  clearConnectorSweeps,
  closeRun,
  confirmRun,
  createRun,
  getRun,
  listRuns,
  runJobId,
  type RunMode,
} from '../../store/connector-runs';
import { getConnectorState, resetConnectorState } from '../../store/connector-state';
import {
  deleteConnector,
  getConnector,
  getConnectorInput,
  addMissingNotifySecret,
  insertConnector,
  connectorsOfTarget,
  listConnectors,
  lockTarget,
  replaceConnector,
  type ConnectorInput,
  type ConnectorView,
} from '../../store/connectors';
import { canonicalJson } from '../../core/canonical-json';
import { newSigningSecret } from '../../crypto/timestamped-signature';
import { releaseEntities } from '../../core/entity-sweep';
import { withTransaction, type Queryable } from '../../db/pool';
import { sourceIdsDisjoint } from '../../../connectors/map-record';
import { ProblemType } from '../../problem-types';
import { checkNotifyTarget } from '../../notify/notify-target';
import { sourcePolicy } from '../../source-policy';
import { connectorBodyOf } from '../connector-body';
import { HttpError, notFound, type Problem } from '../http-error';
import { readyPullQueue } from '../pull-queue-access';
import { runWithNote } from '../run-note';
import { syncSchedule as syncConnectorSchedule } from '../schedule-sync';
import { errorResponse, idParams, NAME_PATTERN, noContent, nullableTimestamp, timestamp, uuid } from '../schemas';

/** Fields the platform owns; every other field of the body belongs to the connector definition. */
const PLATFORM_FIELDS = ['name', 'vertical', 'entity_type', 'schedule', 'timezone', 'enabled'] as const;
const NAME_RE = new RegExp(NAME_PATTERN);
const RUN_MODES: RunMode[] = ['incremental', 'full', 'backfill', 'sweep', 'verify'];
/** A run this young may be another request's, between writing the run and queueing its job. */
const PULL_RECOVERY_GRACE_MS = 5_000;

/**
 * Validates a whole connector body (create, or the merged result of an update) and splits it into what is
 * stored. Every problem is reported at once, each with its location.
 */
export function toInput(body: Record<string, unknown>): ConnectorInput {
  const problems: Problem[] = [];
  const need = (field: string, ok: boolean, msg: string) =>
    ok || problems.push({ loc: ['body', field], msg, type: ProblemType.valueError });
  need(
    'name',
    typeof body.name === 'string' && body.name.trim() !== '' && body.name.length <= 200,
    'name is required: a non-empty string of at most 200 characters',
  );
  for (const f of ['vertical', 'entity_type']) {
    const value = body[f];
    if (value === undefined || value === null) {
      problems.push({
        loc: ['body', f],
        msg: `${f} is required: lower-case letters, digits, _ and -, 1 to 64 characters`,
        type: ProblemType.missing,
      });
    } else if (typeof value !== 'string' || !NAME_RE.test(value)) {
      const fixed =
        typeof value === 'string'
          ? value
              .trim()
              .toLowerCase()
              .replace(/[^a-z0-9_-]+/g, '_')
          : '';
      const suggestion = NAME_RE.test(fixed) ? ` - write "${fixed}"` : '';
      need(
        f,
        false,
        `${f} ${JSON.stringify(value)} is not a valid name: lower-case letters, digits, _ and -, 1 to 64 characters${suggestion}`,
      );
    }
  }
  const schedule = body.schedule ?? null;
  const timezone = body.timezone ?? 'UTC';
  if (typeof timezone !== 'string') need('timezone', false, 'timezone must be an IANA time zone name such as "UTC"');
  if (schedule !== null && typeof schedule !== 'string')
    need('schedule', false, 'schedule must be a cron string such as "*/15 * * * *", or null');
  // A bad time zone does not hide a bad schedule: the schedule is then checked in UTC.
  const zoneProblem = typeof timezone === 'string' ? scheduleProblem('0 0 * * *', timezone) : null;
  if (zoneProblem) problems.push({ loc: ['body', zoneProblem.field], msg: zoneProblem.msg, type: ProblemType.valueError });
  if (typeof schedule === 'string') {
    const problem = scheduleProblem(schedule, zoneProblem || typeof timezone !== 'string' ? 'UTC' : timezone);
    if (problem) problems.push({ loc: ['body', problem.field], msg: problem.msg, type: ProblemType.valueError });
  }
  need('enabled', body.enabled === undefined || typeof body.enabled === 'boolean', 'enabled must be true or false');

  const definition = Object.fromEntries(Object.entries(body).filter(([k]) => !(PLATFORM_FIELDS as readonly string[]).includes(k)));
  let notify: NotifyConfig | null = null;
  try {
    const valid = validateConnectorConfig(definition, undefined, PLATFORM_FIELDS);
    notify = valid.notify;
    // Sweeps and verifies have schedules of their own, in the connector's timezone, held to a pull's rules.
    const extra: Array<[string[], string | null]> = [
      [['deletes', 'sweep_schedule'], valid.deletes.sweep_schedule],
      [['verify_schedule'], valid.verify_schedule],
    ];
    for (const [loc, pattern] of extra) {
      const problem = pattern !== null && typeof timezone === 'string' ? scheduleProblem(pattern, timezone) : null;
      if (problem?.field === 'schedule')
        problems.push({ loc: ['body', ...loc], msg: problem.msg.replace(/^schedule/, loc.join('.')), type: ProblemType.valueError });
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.issues.map((i) => ({ loc: ['body', ...i.loc], msg: i.msg, type: i.type })));
  }
  if (problems.length) throw new HttpError(422, problems);
  const { connection_config: connection, connector_type: connectorType, notify: _notify, ...settings } = definition;
  return {
    name: body.name as string,
    connector_type: connectorType as string,
    vertical: body.vertical as string,
    entity_type: body.entity_type as string,
    connection_config: connection as Record<string, unknown>,
    schedule: schedule as string | null,
    timezone: timezone as string,
    enabled: (body.enabled as boolean | undefined) ?? true,
    settings,
    notify,
  };
}

/** Top-level fields that differ between a stored definition and a new one (values never reported: they may be secret). */
function changedFields(before: ConnectorInput | null, after: ConnectorInput): string[] {
  const flat = (c: ConnectorInput | null): Record<string, string> => {
    if (!c) return {};
    const { settings, notify, ...platform } = c;
    return Object.fromEntries(
      Object.entries({ ...platform, ...settings, ...(notify ? { notify } : {}) }).map(([k, v]) => [k, canonicalJson(v)]),
    );
  };
  const a = flat(before);
  const b = flat(after);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

const connectorView = {
  type: 'object',
  description: 'the definition as given, with connection_config redacted: every setting of the connector type is a field too',
  required: [
    'id',
    'name',
    'connector_type',
    'vertical',
    'entity_type',
    'connection_config',
    'schedule',
    'timezone',
    'enabled',
    'status',
    'created_at',
    'updated_at',
  ],
  properties: {
    id: uuid,
    name: { type: 'string' },
    connector_type: { type: 'string' },
    vertical: { type: 'string' },
    entity_type: { type: 'string' },
    connection_config: { type: 'string', enum: ['***REDACTED***'] },
    schedule: { type: ['string', 'null'] },
    timezone: { type: 'string' },
    enabled: { type: 'boolean' },
    status: { type: 'string', enum: ['active', 'paused'], description: "QANATIX's name for enabled: active when enabled, else paused" },
    paused: { type: 'boolean', description: 'the same switch as enabled, inverted: no scheduled runs, manual pulls refused' },
    paused_at: nullableTimestamp,
    pause_reason: { type: ['string', 'null'] },
    notify: {
      type: 'object',
      description:
        'where signed calls go when a run fails, recovers or waits for confirmation (absent: nowhere); the URL shown without its userinfo and query',
      properties: { url: { type: 'string' }, on: { type: 'array', items: { type: 'string', enum: [...NOTIFY_EVENTS] } } },
    },
    created_at: timestamp,
    updated_at: timestamp,
  },
  additionalProperties: true,
} as const;

export const notifySecretField = {
  type: 'string',
  description:
    'the secret notifications are signed with (X-Qanatix-Signature): shown this once - keep it; POST /connectors/{id}/notify/rotate-secret replaces it',
} as const;

const changedFieldsList = {
  type: 'array',
  items: { type: 'string' },
  description: 'top-level fields that differ from the stored definition (values never shown)',
} as const;
const dryRunResult = {
  type: 'object',
  required: ['dry_run', 'changed_fields'],
  properties: { dry_run: { type: 'boolean', enum: [true] }, changed_fields: changedFieldsList },
} as const;
export const connectorBody = {
  type: 'object',
  description:
    'a connector definition (see the README): name, connector_type, connection_config, vertical, entity_type, query or table, schedule, …; names of the SDK are accepted too: collection and record_type (with record_type) for vertical and entity_type, status (active or paused) for enabled',
  examples: [
    {
      name: 'Production Postgres',
      connector_type: 'postgresql',
      connection_config: { dsn: 'postgresql://reader:secret@db.example.com:5432/erp' },
      vertical: 'manufacturing',
      entity_type: 'product',
      query: 'SELECT id, name, sku, price FROM products WHERE updated_at > :last_pull',
      schedule: '*/15 * * * *',
      timezone: 'Europe/Berlin',
    },
  ],
} as const;

const runView = {
  type: 'object',
  required: ['id', 'connector_id', 'trigger', 'mode', 'status', 'queued_at'],
  properties: {
    id: uuid,
    connector_id: uuid,
    job_id: { type: ['string', 'null'] },
    trigger: { type: 'string', enum: ['schedule', 'manual', 'operator'] },
    mode: { type: 'string', enum: [...RUN_MODES, 'set_state'] },
    backfill_from: { description: "a backfill's range: from <= cursor < to" },
    backfill_to: {},
    status: {
      type: 'string',
      enum: ['queued', 'running', 'retrying', 'succeeded', 'failed', 'skipped', 'cancelled', 'missed', 'needs_confirmation'],
    },
    attempts: { type: 'integer' },
    ingestion_id: { type: ['string', 'null'], format: 'uuid' },
    rows_read: { type: 'number' },
    inserted: { type: 'number' },
    updated: { type: 'number' },
    unchanged: { type: 'number' },
    rejected: { type: 'number' },
    deleted: {
      type: 'number',
      description: 'entities deleted (or soft-deleted) because their row is gone or marked deleted at the source',
    },
    undeleted: { type: 'number', description: 'soft-deleted entities whose row came back' },
    pending_deletes: { type: ['number', 'null'], description: 'needs_confirmation: how many entities the held sweep would delete' },
    verify: {
      type: ['object', 'null'],
      description: 'a verify run: rows checked, and keys missing (no entity), extra (no row) and stale (content differs), up to 20 of each',
      properties: {
        checked: { type: 'number' },
        missing: { type: 'number' },
        extra: { type: 'number' },
        stale: { type: 'number' },
        samples: {
          type: 'object',
          properties: {
            missing: { type: 'array', items: { type: 'string' } },
            extra: { type: 'array', items: { type: 'string' } },
            stale: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
    cursor_before: { description: 'the committed cursor {value, key} when the run started, or null' },
    cursor_after: { description: 'the committed cursor when it ended, or null' },
    cursor_reset: { type: 'boolean' },
    source_started_at: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
    error_kind: { type: ['string', 'null'] },
    rows_held_back: {
      type: ['number', 'null'],
      description: 'rows the lag window held back when the run read to its end (counted up to 10,000; null: not counted)',
    },
    held_back_until: { type: ['string', 'null'], description: 'source-clock instant from which a run reads the first held-back row' },
    cancel_requested_at: nullableTimestamp,
    schema_changes: {
      type: ['array', 'null'],
      items: { type: 'object', additionalProperties: true },
      description: "what changed in the source's columns since the last successful run: {column, change: added|removed|type, …}",
    },
    note: { type: ['string', 'null'], description: 'why a run read nothing or little, in words' },
    queued_at: timestamp,
    started_at: nullableTimestamp,
    finished_at: nullableTimestamp,
    duration_ms: { type: ['integer', 'null'] },
  },
} as const;

/** A run queued by the API: its job is in the queue. */
const queuedRunView = {
  type: 'object',
  required: ['run_id', 'job_id', 'status', 'mode'],
  properties: {
    run_id: uuid,
    job_id: { type: 'string' },
    status: { type: 'string', enum: ['queued'] },
    mode: { type: 'string', enum: RUN_MODES },
  },
} as const;

const runConflict = errorResponse('A run of this connector is queued or running; run_id names it');
/** A refused source as a 422 at the connection field that names it. */
export function sourceDenied(err: SourceDeniedError, at: string[]): HttpError {
  return new HttpError(422, [{ loc: [...at, 'connection_config', ...err.field], msg: err.message, type: ProblemType.sourceDenied }]);
}

/** A pull of a paused connector: refused with since when and why. */
function pausedConflict(c: ConnectorView): HttpError {
  const since = c.paused_at ? ` since ${new Date(c.paused_at).toISOString()}` : '';
  const why = c.pause_reason ? ` (${c.pause_reason})` : '';
  return new HttpError(
    409,
    `This connector is paused${since}${why}; resume it (POST /connectors/{id}/resume, qanatix resume NAME) to pull.`,
  );
}

export function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(422, [{ loc: ['body'], msg: 'the body must be a JSON object', type: ProblemType.object }]);
  }
  return body as Record<string, unknown>;
}

export async function connectorsRoutes(app: FastifyInstance) {
  const scope = { scopes: ['connectors' as const] };

  const syncSchedule = (tenantId: string, id: string, c: Pick<ConnectorInput, 'enabled' | 'schedule' | 'timezone'> | null) =>
    syncConnectorSchedule(app, tenantId, id, c);

  const policy = () => sourcePolicy(app.pool, app.config.sourceRules);

  /**
   * Refuses (422) a connector whose source is the platform's database or outside the operator's rules, or whose notify
   * URL may not be called (see notify-target.ts). `changed` limits an update's checks to what it changes.
   */
  const checkReach = async (input: ConnectorInput, changed?: readonly string[]) => {
    const problems: Problem[] = [];
    if (!changed || changed.includes('connection_config') || changed.includes('connector_type')) {
      try {
        await checkSourceReach(input, await policy());
      } catch (err) {
        if (!(err instanceof SourceDeniedError)) throw err;
        problems.push(...(sourceDenied(err, ['body']).detail as Problem[]));
      }
    }
    if (input.notify && (!changed || changed.includes('notify'))) {
      try {
        await checkNotifyTarget(input.notify.url, await policy(), false);
      } catch (err) {
        if (!(err instanceof SourceDeniedError)) throw err;
        problems.push({ loc: ['body', 'notify', 'url'], msg: err.message, type: ProblemType.sourceDenied });
      }
    }
    if (problems.length) throw new HttpError(422, problems);
  };

  /**
   * Writes a connector unless another connector of the tenant writes the same vertical and entity type with
   * source_ids that can collide (409 naming it): their pulls would overwrite each other's entities, and a sweep of
   * one would delete the other's. Checked and written under a lock of the target, so two requests cannot both pass.
   */
  const writeOwned = <T>(tenantId: string, id: string, input: ConnectorInput, write: (tx: Queryable) => Promise<T>): Promise<T> =>
    withTransaction(app.pool, async (tx) => {
      await lockTarget(tx, tenantId, input.vertical, input.entity_type);
      const sourceId = typeof input.settings.source_id === 'string' ? input.settings.source_id : null;
      for (const other of await connectorsOfTarget(tx, tenantId, input.vertical, input.entity_type, id)) {
        if (sourceIdsDisjoint(sourceId, typeof other.source_id === 'string' ? other.source_id : null)) continue;
        throw new HttpError(
          409,
          `Connector "${other.name}" (${other.id}) already writes ${input.vertical}/${input.entity_type} with source_ids that can collide with this one's; ` +
            'give both source_id templates distinct literal prefixes (such as "pg-{id}" and "my-{id}"), or choose another entity_type.',
        );
      }
      return write(tx);
    });

  /** Queues a run's job; a run the queue refuses (or Redis away) is closed (503), never left queued without a job. */
  const queueRun = async (data: PullJobData & { runId: string }, jobId: string) => {
    try {
      await (await readyPullQueue(app)).add(PULL_JOB, data, { jobId });
    } catch {
      // The driver's message names Redis' address: the run's error is read by the tenant.
      await closeRun(app.pool, data.runId, 'could not be queued: the job queue (Redis) was unreachable', 'queue_unavailable');
      throw new HttpError(503, 'The job queue (Redis) did not take the run; try again when /readyz reports ready.');
    }
  };

  const load = async (tenantId: string, id: string) => {
    const c = await getConnector(app.pool, tenantId, id);
    if (!c) throw notFound('Connector');
    return c;
  };

  const dryRun = {
    type: 'object',
    properties: { dry_run: { type: 'boolean', default: false, description: 'validate and report, write nothing' } },
  } as const;

  app.post<{ Querystring: { dry_run: boolean } }>(
    '/connectors',
    {
      config: scope,
      schema: {
        summary: 'Create a database connector',
        tags: ['connectors'],
        querystring: dryRun,
        body: connectorBody,
        response: {
          201: {
            ...connectorView,
            required: [...connectorView.required, 'notify_secret'],
            properties: { ...connectorView.properties, notify_secret: notifySecretField },
          },
          200: dryRunResult,
          409: errorResponse('A connector with this name exists in this tenant, or another writes the same entities'),
        },
      },
    },
    async (req, reply) => {
      const input = toInput(connectorBodyOf(req.body));
      await checkReach(input);
      if (req.query.dry_run) return reply.code(200).send({ dry_run: true, changed_fields: changedFields(null, input) });
      const id = randomUUID();
      const notifySecret = newSigningSecret();
      let created;
      try {
        created = await writeOwned(req.principal!.tenantId, id, input, (tx) =>
          insertConnector(tx, app.box, req.principal!.tenantId, id, input, notifySecret),
        );
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw new HttpError(409, `A connector named "${input.name}" already exists; choose another name or update it.`);
        throw err;
      }
      await syncSchedule(req.principal!.tenantId, id, input);
      return reply.code(201).send({ ...created, notify_secret: notifySecret });
    },
  );

  app.get(
    '/connectors',
    {
      config: scope,
      schema: { summary: 'List connectors', tags: ['connectors'], response: { 200: { type: 'array', items: connectorView } } },
    },
    async (req) => listConnectors(app.pool, req.principal!.tenantId),
  );

  app.get<{ Params: { id: string } }>(
    '/connectors/:id',
    { config: scope, schema: { summary: 'One connector', tags: ['connectors'], params: idParams, response: { 200: connectorView } } },
    (req) => load(req.principal!.tenantId, req.params.id),
  );

  app.patch<{ Params: { id: string }; Querystring: { dry_run: boolean } }>(
    '/connectors/:id',
    {
      config: scope,
      schema: {
        summary: 'Update fields of a connector (connection_config, when given, replaces the stored one); answers with changed_fields',
        tags: ['connectors'],
        params: idParams,
        querystring: dryRun,
        body: connectorBody,
        response: {
          200: {
            anyOf: [
              {
                ...connectorView,
                required: [...connectorView.required, 'changed_fields'],
                properties: { ...connectorView.properties, changed_fields: changedFieldsList, notify_secret: notifySecretField },
              },
              dryRunResult,
            ],
          },
          409: errorResponse('Another connector of this tenant has the new name, or writes the same entities'),
        },
      },
    },
    async (req) => {
      const tenantId = req.principal!.tenantId;
      const current = await getConnectorInput(app.pool, app.box, tenantId, req.params.id);
      if (!current) throw notFound('Connector');
      const { settings, ...platform } = current;
      const input = toInput({ ...platform, ...settings, ...connectorBodyOf(req.body) });
      const changed_fields = changedFields(current, input);
      await checkReach(input, changed_fields);
      if (req.query.dry_run) return { dry_run: true, changed_fields };
      // Nothing changed: no write, so applying the same file twice leaves updated_at alone.
      if (changed_fields.length === 0) return { ...(await load(tenantId, req.params.id)), changed_fields };
      const updated = await writeOwned(tenantId, req.params.id, input, (tx) =>
        replaceConnector(tx, app.box, tenantId, req.params.id, input),
      );
      if (!updated) throw notFound('Connector');
      await syncSchedule(tenantId, req.params.id, input);
      // A connector created before notifications had a signing secret gets one when it first asks for notifications.
      const notify_secret = newSigningSecret();
      if (input.notify && (await addMissingNotifySecret(app.pool, app.box, tenantId, req.params.id, notify_secret)))
        return { ...updated, changed_fields, notify_secret };
      return { ...updated, changed_fields };
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { delete_entities: boolean } }>(
    '/connectors/:id',
    {
      config: scope,
      schema: {
        summary: 'Delete a connector, its state and its runs; its entities stay (without an owner) unless delete_entities',
        tags: ['connectors'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: { delete_entities: { type: 'boolean', default: false, description: 'also delete the entities its pulls wrote' } },
        },
        response: { 204: noContent },
      },
    },
    async (req, reply) => {
      const tenantId = req.principal!.tenantId;
      const c = await load(tenantId, req.params.id);
      const target = { tenantId, vertical: c.vertical, entityType: c.entity_type, connectorId: c.id };
      const deleted = await withTransaction(app.pool, async (tx) => {
        await releaseEntities(tx, target, req.query.delete_entities);
        await clearConnectorSweeps(tx, c.id);
        return deleteConnector(tx, tenantId, req.params.id);
      });
      if (!deleted) throw notFound('Connector');
      await syncSchedule(req.principal!.tenantId, req.params.id, null);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/connectors/:id/test',
    {
      config: scope,
      schema: {
        summary: 'Connect to the source, check privileges, and check that the mapping reads columns the source has',
        tags: ['connectors'],
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['ok', 'duration_ms'],
            properties: {
              ok: { type: 'boolean' },
              kind: { type: 'string', description: 'when not ok: what failed (auth, network, tls, query, …)' },
              error: { type: 'string', description: 'when not ok: what to fix' },
              duration_ms: { type: 'integer' },
            },
          },
        },
      },
    },
    async (req) => {
      const input = await getConnectorInput(app.pool, app.box, req.principal!.tenantId, req.params.id);
      if (!input) throw notFound('Connector');
      const started = Date.now();
      let connector;
      try {
        const definition = validateStoredDefinition(input);
        connector = await createConnector(definition, await policy());
        await connector.check();
        checkMapping(definition, await connector.describe());
        return { ok: true, duration_ms: Date.now() - started };
      } catch (err) {
        if (err instanceof SourceDeniedError) throw sourceDenied(err, []);
        if (err instanceof ConnectorError) return { ok: false, kind: err.kind, error: err.message, duration_ms: Date.now() - started };
        throw err;
      } finally {
        await connector?.close().catch(() => {});
      }
    },
  );

  app.post<{ Params: { id: string }; Body: { mode?: RunMode; from?: CursorScalar; to?: CursorScalar } | null }>(
    '/connectors/:id/pull',
    {
      config: scope,
      schema: {
        summary:
          'Queue a pull now (full: a resync from the beginning; backfill: rows with from <= cursor < to, read again without moving the position; sweep: delete what the source no longer has; verify: compare, write nothing)',
        tags: ['connectors'],
        params: idParams,
        body: {
          type: ['object', 'null'],
          properties: {
            mode: { type: 'string', enum: RUN_MODES },
            from: { type: ['string', 'number', 'boolean'], description: 'backfill: the first cursor value of the range (inclusive)' },
            to: { type: ['string', 'number', 'boolean'], description: 'backfill: the end of the range (exclusive)' },
          },
          additionalProperties: false,
        },
        response: {
          202: queuedRunView,
          409: errorResponse('A run of this connector is queued or running (run_id names it), or the connector is paused'),
          503: errorResponse('This server has no job queue (REDIS_URL)'),
        },
      },
    },
    async (req, reply) => {
      const tenantId = req.principal!.tenantId;
      const connector = await load(tenantId, req.params.id);
      if (!connector.enabled) throw pausedConflict(connector);
      const queue = await readyPullQueue(app);
      const mode = req.body?.mode ?? 'incremental';
      const deletes = connector.deletes as { mode?: unknown } | undefined;
      if (mode === 'sweep' && (deletes?.mode ?? 'off') === 'off') {
        const msg =
          'a sweep deletes what the source no longer has, and this connector\'s deletes.mode is "off" - set it to "soft" or "hard" first';
        throw new HttpError(422, [{ loc: ['body', 'mode'], msg, type: ProblemType.settingConflict }]);
      }
      const { from, to } = req.body ?? {};
      const rangeProblems = [
        ...(mode === 'backfill' ? (['from', 'to'] as const).filter((f) => req.body?.[f] === undefined) : []).map((f) => ({
          loc: ['body', f],
          msg: `a backfill reads from <= cursor < to: give ${f} as a cursor value (an ISO 8601 timestamp, a number, …)`,
          type: ProblemType.missing,
        })),
        ...(mode !== 'backfill' ? (['from', 'to'] as const).filter((f) => req.body?.[f] !== undefined) : []).map((f) => ({
          loc: ['body', f],
          msg: `${f} applies to a backfill only: add "mode": "backfill"`,
          type: ProblemType.valueError,
        })),
      ];
      if (rangeProblems.length) throw new HttpError(422, rangeProblems);
      // A run left without a live job (lost from Redis, failed by BullMQ unseen) is settled first: it must not block the connector.
      await recoverRuns(app.pool, queue, { connectorId: req.params.id, graceMs: PULL_RECOVERY_GRACE_MS });
      const active = await activeRun(app.pool, req.params.id);
      if (active)
        throw new HttpError(
          409,
          `A run of this connector is already ${active.status}; wait for it or watch it.`,
          {},
          { run_id: active.id, job_id: active.job_id },
        );
      const range = mode === 'backfill' ? { from, to } : undefined;
      const runId = await createRun(app.pool, { connectorId: req.params.id, tenantId, trigger: 'manual', mode, range });
      const jobId = runJobId(runId);
      await queueRun({ connectorId: req.params.id, tenantId, mode, trigger: 'manual', runId }, jobId);
      return reply.code(202).send({ run_id: runId, job_id: jobId, status: 'queued', mode });
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number } }>(
    '/connectors/:id/runs',
    {
      config: scope,
      schema: {
        summary: "The connector's runs, newest first",
        tags: ['connectors'],
        params: idParams,
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 } } },
        response: { 200: { type: 'array', items: runView } },
      },
    },
    async (req) => {
      await load(req.principal!.tenantId, req.params.id);
      return (await listRuns(app.pool, req.params.id, req.query.limit)).map(runWithNote);
    },
  );

  app.get<{ Params: { id: string; run_id: string } }>(
    '/connectors/:id/runs/:run_id',
    {
      config: scope,
      schema: {
        summary: 'One run',
        tags: ['connectors'],
        params: { type: 'object', required: ['id', 'run_id'], properties: { id: uuid, run_id: uuid } },
        response: { 200: runView },
      },
    },
    async (req) => {
      await load(req.principal!.tenantId, req.params.id);
      const run = await getRun(app.pool, req.params.run_id);
      if (!run || run.connector_id !== req.params.id) throw notFound('Run');
      return runWithNote(run);
    },
  );

  app.post<{ Params: { id: string; run_id: string } }>(
    '/connectors/:id/runs/:run_id/confirm',
    {
      config: scope,
      schema: {
        summary: 'Let a sweep held by the guard (needs_confirmation) go ahead and delete what it found',
        tags: ['connectors'],
        params: { type: 'object', required: ['id', 'run_id'], properties: { id: uuid, run_id: uuid } },
        response: {
          202: queuedRunView,
          409: errorResponse('The run is not waiting for confirmation, or another run of this connector is queued or running'),
          503: errorResponse('This server has no job queue (REDIS_URL)'),
        },
      },
    },
    async (req, reply) => {
      const tenantId = req.principal!.tenantId;
      await load(tenantId, req.params.id);
      const run = await getRun(app.pool, req.params.run_id);
      if (!run || run.connector_id !== req.params.id) throw notFound('Run');
      await readyPullQueue(app);
      if (run.status !== 'needs_confirmation') throw new HttpError(409, `Run ${run.id} is ${run.status}, not waiting for confirmation.`);
      const active = await activeRun(app.pool, req.params.id);
      if (active)
        throw new HttpError(409, `A run of this connector is ${active.status}; confirm when it has finished.`, {}, { run_id: active.id });
      if (run.mode === 'set_state') throw new HttpError(409, `Run ${run.id} changed the position; there is nothing to confirm.`);
      const jobId = await confirmRun(app.pool, run.id);
      if (!jobId) throw new HttpError(409, `Run ${run.id} is no longer waiting for confirmation.`);
      await queueRun({ connectorId: run.connector_id, tenantId, mode: run.mode, trigger: 'manual', runId: run.id }, jobId);
      return reply.code(202).send({ run_id: run.id, job_id: jobId, status: 'queued', mode: run.mode });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/connectors/:id/state',
    {
      config: scope,
      schema: {
        summary: 'The committed cursor and last pull time',
        tags: ['connectors'],
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['cursor', 'last_pull', 'updated_at'],
            properties: {
              cursor: { description: 'the committed position {value, key}, or null before the first committed batch' },
              last_pull: { type: ['string', 'null'], description: 'source-clock start of the last successful run' },
              updated_at: timestamp,
            },
          },
        },
      },
    },
    async (req) => {
      await load(req.principal!.tenantId, req.params.id);
      return getConnectorState(app.pool, req.params.id);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/connectors/:id/state',
    {
      config: scope,
      schema: {
        summary: 'Reset the committed cursor: the next run reads from the beginning',
        tags: ['connectors'],
        params: idParams,
        response: { 204: noContent, 409: runConflict },
      },
    },
    async (req, reply) => {
      await load(req.principal!.tenantId, req.params.id);
      const active = await activeRun(app.pool, req.params.id);
      if (active)
        throw new HttpError(
          409,
          `A run of this connector is ${active.status}; reset the state when it has finished.`,
          {},
          { run_id: active.id },
        );
      await resetConnectorState(app.pool, req.params.id);
      return reply.code(204).send();
    },
  );
}
