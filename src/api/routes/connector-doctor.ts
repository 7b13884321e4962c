import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../../../connectors/config-error';
import { ConnectorError } from '../../../connectors/connector-error';
import { diagnose } from '../../../connectors/doctor';
import { createConnector } from '../../../connectors/registry';
import { SourceDeniedError } from '../../../connectors/source-denied-error';
import { ProblemType } from '../../problem-types';
import { sourcePolicy } from '../../source-policy';
import { getConnectorState } from '../../store/connector-state';
import { getConnectorInput } from '../../store/connectors';
import { pastReadRate } from '../../store/run-rates';
import { HttpError, notFound } from '../http-error';
import { definitionOr422 } from '../stored-definition';
import { errorResponse, idParams } from '../schemas';
import { sourceDenied } from './connectors';

/** The definition's own faults are 422s, the source's answers 409s (as for a preview). */
const DEFINITION_FAULTS = new Set(['config', 'not_found', 'syntax']);

const CHECK_NAMES = ['cursor_index', 'equal_cursor_run', 'null_cursors', 'future_cursors', 'held_back', 'privileges', 'resync_estimate'];

const doctorView = {
  type: 'object',
  required: ['verdict', 'source_now', 'checks'],
  properties: {
    verdict: { type: 'string', enum: ['ok', 'warn', 'fail'], description: 'the worst verdict of the checks (skipped counts as ok)' },
    source_now: { type: 'string', description: "the source's clock when the checks started" },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'verdict', 'detail', 'fix'],
        properties: {
          name: { type: 'string', enum: CHECK_NAMES },
          verdict: { type: 'string', enum: ['ok', 'warn', 'fail', 'skipped'] },
          detail: { type: 'string', description: 'what was found, with the figures' },
          fix: { type: ['string', 'null'], description: 'what to do about it; null when nothing needs doing' },
        },
      },
    },
  },
} as const;

/**
 * The doctor: checks a connector's source for what makes pulls slow, late or wrong (an index for the keyset order,
 * runs of equal cursor values, NULL and future cursors, rows held back by the lag, write privileges) and estimates
 * a full resync, each with a verdict and a fix. Reads only, through the connector's own read-only connection.
 */
export async function connectorDoctorRoutes(app: FastifyInstance) {
  app.get<{ Params: { id: string }; Querystring: { check_seconds: number } }>(
    '/connectors/:id/doctor',
    {
      config: { scopes: ['connectors' as const] },
      schema: {
        summary: "Check a connector's source: each check with a verdict (ok, warn, fail, skipped), what it found and a fix; reads only",
        tags: ['connectors'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: {
            check_seconds: { type: 'number', minimum: 0.1, maximum: 60, default: 10, description: "each check's time budget" },
          },
        },
        response: { 200: doctorView, 409: errorResponse('The source could not be read; the message says why (its kind and its answer)') },
      },
    },
    async (req) => {
      const tenantId = req.principal!.tenantId;
      const input = await getConnectorInput(app.pool, app.box, tenantId, req.params.id);
      if (!input) throw notFound('Connector');
      const definition = definitionOr422(input, 'connector');
      const [state, rowsPerSecond, policy] = await Promise.all([
        getConnectorState(app.pool, req.params.id),
        pastReadRate(app.pool, req.params.id),
        sourcePolicy(app.pool, app.config.sourceRules),
      ]);
      const source = await createConnector(definition, policy);
      try {
        return await diagnose(source, {
          definition,
          cursor: state.cursor,
          lastPull: state.last_pull,
          rowsPerSecond,
          checkSeconds: req.query.check_seconds,
        });
      } catch (err) {
        if (err instanceof SourceDeniedError) throw sourceDenied(err, ['connector']);
        if (err instanceof ConfigError) {
          throw new HttpError(
            422,
            err.issues.map((i) => ({ loc: ['connector', ...i.loc], msg: i.msg, type: i.type })),
          );
        }
        if (err instanceof ConnectorError && DEFINITION_FAULTS.has(err.kind)) {
          throw new HttpError(422, [{ loc: ['connector'], msg: err.message, type: ProblemType.valueError }]);
        }
        if (err instanceof ConnectorError) throw new HttpError(409, `The source could not be read (${err.kind}): ${err.message}`);
        throw err;
      } finally {
        await source.close();
      }
    },
  );
}
