import type { FastifyInstance } from 'fastify';
import { ConnectorError } from '../../../connectors/connector-error';
import { SourceDeniedError } from '../../../connectors/source-denied-error';
import { previewPull } from '../../../jobs/preview-pull';
import { ProblemType } from '../../problem-types';
import { sourcePolicy } from '../../source-policy';
import { getConnectorState, type ConnectorState } from '../../store/connector-state';
import { getConnectorInput, type ConnectorInput } from '../../store/connectors';
import { HttpError, notFound } from '../http-error';
import { definitionOr422 } from '../stored-definition';
import { errorResponse, idParams } from '../schemas';
import { bodyObject, connectorBody, sourceDenied, toInput } from './connectors';

/** What a preview's source errors become: the definition's own faults are 422s, the source's answers 409s. */
const DEFINITION_FAULTS = new Set(['config', 'not_found', 'syntax', 'no_key']);

const limitQuery = {
  type: 'object',
  properties: { limit: { type: 'integer', minimum: 1, maximum: 200, default: 20, description: 'rows to read' } },
} as const;

const previewView = {
  type: 'object',
  required: ['columns', 'cursor', 'rows', 'counts'],
  properties: {
    columns: { type: 'array', items: { type: 'object', additionalProperties: true } },
    cursor: { description: 'the position the read started after: the committed cursor, or null' },
    counts: { type: 'object', additionalProperties: { type: 'integer' } },
    rows: {
      type: 'array',
      items: {
        type: 'object',
        required: ['position', 'action', 'record', 'row'],
        properties: {
          position: { type: 'integer' },
          action: { type: 'string', enum: ['insert', 'update', 'unchanged', 'duplicate', 'rejected'] },
          record: { description: 'the record {name, source_id, vertical_data} the row maps to; null when it cannot be mapped' },
          problems: { type: 'array', items: { type: 'object', additionalProperties: true } },
          row: { type: 'object', additionalProperties: true, description: 'the source row as read' },
        },
      },
    },
  },
} as const;

/**
 * Preview: the first rows the next pull would read, mapped, each with what the pull would do (insert, update,
 * unchanged, rejected and why). For a saved connector from its committed position; for an unsaved body from the
 * beginning, so a connector can be tried before it is saved. Reads only.
 */
export async function connectorPreviewRoutes(app: FastifyInstance) {
  const scope = { scopes: ['connectors' as const] };

  const preview = async (tenantId: string, input: ConnectorInput, from: Pick<ConnectorState, 'cursor' | 'last_pull'>, limit: number) => {
    const definition = definitionOr422(input, 'body');
    try {
      return await previewPull(app.pool, {
        definition,
        target: { tenantId, vertical: input.vertical, entityType: input.entity_type },
        cursor: from.cursor,
        lastPull: from.last_pull,
        limit,
        policy: await sourcePolicy(app.pool, app.config.sourceRules),
      });
    } catch (err) {
      if (err instanceof SourceDeniedError) throw sourceDenied(err, ['body']);
      if (err instanceof ConnectorError && DEFINITION_FAULTS.has(err.kind)) {
        throw new HttpError(422, [{ loc: ['body'], msg: err.message, type: ProblemType.valueError }]);
      }
      if (err instanceof ConnectorError) throw new HttpError(409, `The source could not be read (${err.kind}): ${err.message}`);
      throw err;
    }
  };

  app.post<{ Querystring: { limit: number } }>(
    '/connectors/preview',
    {
      config: scope,
      schema: {
        summary: 'Preview an unsaved connector: its first rows as mapped records, each with what a pull would do; reads only',
        tags: ['connectors'],
        querystring: limitQuery,
        body: connectorBody,
        response: { 200: previewView, 409: errorResponse('The source could not be read; the message says why (its kind and its answer)') },
      },
    },
    async (req) => preview(req.principal!.tenantId, toInput(bodyObject(req.body)), { cursor: null, last_pull: null }, req.query.limit),
  );

  app.post<{ Params: { id: string }; Querystring: { limit: number } }>(
    '/connectors/:id/preview',
    {
      config: scope,
      schema: {
        summary: 'Preview the next pull: the first rows after the committed position, mapped, each with what the pull would do; reads only',
        tags: ['connectors'],
        params: idParams,
        querystring: limitQuery,
        response: { 200: previewView, 409: errorResponse('The source could not be read; the message says why (its kind and its answer)') },
      },
    },
    async (req) => {
      const tenantId = req.principal!.tenantId;
      const input = await getConnectorInput(app.pool, app.box, tenantId, req.params.id);
      if (!input) throw notFound('Connector');
      return preview(tenantId, input, await getConnectorState(app.pool, req.params.id), req.query.limit);
    },
  );
}
