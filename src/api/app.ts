import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import type { Queue } from 'bullmq';
import pg from 'pg';
import type { PullJobData } from '../../jobs/pull-queue';
import { MissingKeyError } from '../crypto/missing-key-error';
import type { SecretBox } from '../crypto/secret-box';
import { authenticateKey, hasScope, type Principal, type Scope } from '../auth/api-keys';
import { authenticateOperator, looksLikeOperatorToken, type Operator } from '../auth/operator-credentials';
import type { Config } from '../config';
import { ProblemType, requestProblem, sqlstateProblem } from '../problem-types';
import { HttpError } from './http-error';
import { parseJsonBody } from './json-body';
import { PendingRecords } from './pending-records';
import { RateLimiter } from './rate-limit';
import { unstorableValues } from './request-values';
import { standardResponses } from './standard-responses';
import { bullBoardRoutes } from './bull-board';
import { authKeysRoutes } from './routes/auth-keys';
import { connectorsRoutes } from './routes/connectors';
import { connectorNotifyRoutes } from './routes/connector-notify';
import { connectorDoctorRoutes } from './routes/connector-doctor';
import { connectorPreviewRoutes } from './routes/connector-preview';
import { runControlRoutes } from './routes/run-control';
import { healthRoutes } from './routes/health';
import { queuesRoutes } from './routes/queues';
import { httpDuration } from '../metrics';
import { entitiesRoutes } from './routes/entities';
import { ingestRoutes } from './routes/ingest';
import { ingestionsRoutes } from './routes/ingestions';
import { schemasRoutes } from './routes/schemas';
import { streamRoutes } from './routes/stream';
import { verticalsRoutes } from './routes/verticals';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant key's holder; set on routes with `scopes`. */
    principal?: Principal;
    /** Set instead of `principal` when an operator credential was admitted (routes with `operator`). */
    operator?: Operator;
    rawBody?: Buffer;
  }
  interface FastifyContextConfig {
    /** Any one of these scopes admits a tenant key (`admin` admits everything); neither this nor `operator`: public route. */
    scopes?: Scope[];
    /** An operator credential is admitted too; without `scopes`, only an operator credential gets in. */
    operator?: boolean;
    /** The handler gets the raw body bytes (signature checks) and parses them itself. */
    rawBody?: boolean;
    /** The body carries records: text the database cannot store sends its record to the DLQ, not the request back. */
    records?: boolean;
  }
  interface FastifyInstance {
    pool: pg.Pool;
    config: Config;
    pending: PendingRecords;
    box: SecretBox;
    /** Absent when the API runs without Redis: pulls cannot be queued then. */
    pullQueue: Queue<PullJobData> | null;
    /** Every route served, with its access rule, in registration order: what a check of the trust boundary walks. */
    routeTable: ServedRoute[];
  }
}

export interface ServedRoute {
  method: string;
  url: string;
  scopes: Scope[] | null;
  operator: boolean;
}

export const MAX_BODY_BYTES = 50 * 1024 * 1024;

export interface AppOptions {
  pool: pg.Pool;
  config: Config;
  box: SecretBox;
  pullQueue?: Queue<PullJobData> | null;
  /** Logger options, or a logger shared with the rest of the process. */
  logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const shared = typeof opts.logger === 'object' && opts.logger !== null && 'child' in opts.logger;
  const app = Fastify({
    ...(shared
      ? { loggerInstance: opts.logger as FastifyBaseLogger }
      : { logger: (opts.logger as FastifyServerOptions['logger']) ?? false }),
    bodyLimit: MAX_BODY_BYTES,
    genReqId: () => 'req_' + randomBytes(8).toString('hex'),
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: true, allowUnionTypes: true } },
    // The router's own refusals (a path segment longer than 100 characters, bad percent-encoding) in the API's shape.
    frameworkErrors: (err, req, reply) => {
      const tooLong = (err as { code?: string }).code === 'FST_ERR_MAX_PARAM_LENGTH';
      const detail = tooLong
        ? 'A path segment is longer than 100 characters; no object has such an id or name.'
        : 'The path is not valid (bad percent-encoding).';
      void (reply as FastifyReply)
        .code(tooLong ? 414 : 400)
        .header('x-request-id', req.id)
        .send({ detail });
    },
  });
  app.decorate('pool', opts.pool);
  app.decorate('config', opts.config);
  app.decorate('pending', new PendingRecords(opts.config.maxPendingRecords));
  app.decorate('box', opts.box);
  app.decorate('pullQueue', opts.pullQueue ?? null);
  const routeTable: ServedRoute[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (r) => {
    const config = (r.config ?? {}) as { scopes?: Scope[]; operator?: boolean };
    for (const method of [r.method].flat())
      routeTable.push({ method, url: r.url, scopes: config.scopes ?? null, operator: config.operator ?? false });
  });
  // Response schemas document the API and are checked by the fuzz and the tests; bodies go out exactly as the
  // handler built them, so a schema can never silently drop or coerce a field.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.addHook('onRoute', standardResponses);

  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const raw = body as Buffer;
    if (req.routeOptions.config.rawBody) return done(null, raw);
    try {
      done(null, parseJsonBody(raw));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // Tenant keys only, counted in the queue's Redis; without a queue (no Redis) there is nothing to count in.
  const rateLimiter = opts.pullQueue && opts.config.rateLimitEnabled ? RateLimiter.forQueue(opts.pullQueue, app.log) : null;
  if (rateLimiter) {
    app.addHook('onClose', async () => rateLimiter.close());
    await rateLimiter.ready();
  }

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    const { scopes, operator } = req.routeOptions.config;
    if (!scopes && !operator) return;
    const header = req.headers.authorization;
    if (!header || !/^Bearer\s+/i.test(header)) {
      const detail = scopes
        ? 'Missing API key: send the header "Authorization: Bearer sk_live_…".'
        : 'Missing operator credential: send the header "Authorization: Bearer op_live_…" ("qanatix operator create" makes one).';
      throw new HttpError(401, detail, { 'www-authenticate': 'Bearer' });
    }
    const token = header.replace(/^Bearer\s+/i, '').trim();
    if (looksLikeOperatorToken(token)) {
      const op = await authenticateOperator(app.pool, app.config.apiKeySalt, token);
      if (!op) throw new HttpError(401, 'Invalid or revoked operator credential.', { 'www-authenticate': 'Bearer' });
      if (!operator) throw new HttpError(403, "An operator credential reaches no tenant's data; use an API key of the tenant.");
      req.operator = op;
      return;
    }
    const principal = await authenticateKey(app.pool, app.config.apiKeySalt, token);
    if (!principal) throw new HttpError(401, 'Invalid, revoked or expired API key.', { 'www-authenticate': 'Bearer' });
    await rateLimiter?.admit(
      {
        keyId: principal.keyId,
        limit: principal.rateLimitPerMinute ?? app.config.rateLimitPerMinute,
        tenantId: principal.tenantId,
        tenantLimit: app.config.tenantRateLimitPerMinute,
      },
      reply,
    );
    if (!scopes) {
      throw new HttpError(
        403,
        'This is an installation-wide operation: it needs an operator credential ("qanatix operator create"), which no tenant API key carries.',
      );
    }
    if (!hasScope(principal, scopes)) {
      throw new HttpError(403, `This API key lacks the scope this endpoint needs (${scopes.join(' or ')}); create a key with it.`);
    }
    req.principal = principal;
  });

  // One rule for every route, after the schemas have coerced the input: text PostgreSQL would refuse (NUL, lone
  // surrogates) and numbers that are not finite are a 422 naming where they are, never a 500 from deep inside a
  // query. Bodies of records are the core's: a bad record goes to the DLQ and the rest of the batch lands.
  app.addHook('preHandler', async (req) => {
    const problems = [...unstorableValues(req.params, 'params'), ...unstorableValues(req.query, 'querystring')];
    if (!req.routeOptions.config.records) problems.push(...unstorableValues(req.body, 'body'));
    if (problems.length) throw new HttpError(422, problems);
  });

  app.setErrorHandler(
    (
      err: Error & {
        statusCode?: number;
        code?: string;
        validation?: Array<{ instancePath: string; message?: string; keyword: string; params: Record<string, unknown> }>;
        validationContext?: string;
      },
      req,
      reply,
    ) => {
      if (err instanceof HttpError) {
        return reply
          .code(err.statusCode)
          .headers(err.headers)
          .send({ detail: err.detail, ...err.extra });
      }
      if (err.validation) {
        const detail = err.validation.map((v) => {
          const loc: Array<string | number> = [err.validationContext ?? 'body', ...v.instancePath.split('/').filter(Boolean)];
          // A missing field is value_error.missing, as QANATIX's own clients expect; every other keyword names its rule.
          if (v.keyword === 'required') {
            loc.push(String(v.params.missingProperty));
            return { loc, msg: v.message ?? 'field required', type: ProblemType.missing };
          }
          return { loc, msg: v.message ?? 'invalid', type: requestProblem(v.keyword) };
        });
        return reply.code(422).send({ detail });
      }
      if (err instanceof pg.DatabaseError && /^(22|54)/.test(err.code ?? '')) {
        // A value the database cannot hold (out of range, malformed, too large) that no check before it caught.
        req.log.warn({ sqlstate: err.code, route: req.routeOptions.url }, 'the database refused a value of the request');
        const msg = `the database refused a value of this request: ${err.message.slice(0, 300)}`;
        return reply.code(422).send({ detail: [{ loc: ['request'], msg, type: sqlstateProblem(err.code ?? '') }] });
      }
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return reply.code(413).send({
          detail: `The request body is larger than the ${MAX_BODY_BYTES / 1024 / 1024} MB limit; split it, or use the NDJSON stream endpoint.`,
        });
      }
      if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        return reply.code(415).send({
          detail: `Unsupported Content-Type "${req.headers['content-type'] ?? ''}"; send application/json (application/x-ndjson for streams).`,
        });
      }
      if (err.statusCode === 422)
        return reply.code(422).send({ detail: [{ loc: ['request'], msg: err.message, type: ProblemType.valueError }] });
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
        return reply.code(err.statusCode).send({ detail: err.message });
      }
      if (err instanceof MissingKeyError) {
        // The installation's configuration, not the request, is at fault: say which key is missing and what to do.
        req.log.error({ key_id: err.keyId }, err.message);
        return reply.code(500).send({ detail: `${err.message} (request ${req.id})` });
      }
      req.log.error({ err }, 'request failed');
      return reply.code(500).send({ detail: `Internal server error (request ${req.id}).` });
    },
  );
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ detail: `No such endpoint: ${req.method} ${req.url.split('?')[0]}` }));

  await app.register(swagger, {
    openapi: {
      info: { title: 'qanatix', version: '0.1.0', description: 'QANATIX-compatible ingestion API' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(healthRoutes);
  if (opts.pullQueue) await app.register(bullBoardRoutes, { queues: [opts.pullQueue] });
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (api) => {
      await api.register(ingestRoutes);
      await api.register(streamRoutes);
      await api.register(ingestionsRoutes);
      await api.register(schemasRoutes);
      await api.register(verticalsRoutes);
      await api.register(entitiesRoutes);
      await api.register(authKeysRoutes);
      await api.register(connectorsRoutes);
      await api.register(runControlRoutes);
      await api.register(connectorPreviewRoutes);
      await api.register(connectorNotifyRoutes);
      await api.register(connectorDoctorRoutes);
      await api.register(queuesRoutes);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
