import type { FastifyInstance } from 'fastify';
import { newSigningSecret } from '../../crypto/timestamped-signature';
import { setNotifySecret } from '../../store/connectors';
import { notFound } from '../http-error';
import { idParams } from '../schemas';
import { notifySecretField } from './connectors';

/** A connector's failure notifications: replacing the secret they are signed with (the old one stops working at once). */
export async function connectorNotifyRoutes(app: FastifyInstance) {
  app.post<{ Params: { id: string } }>(
    '/connectors/:id/notify/rotate-secret',
    {
      config: { scopes: ['connectors' as const] },
      schema: {
        summary: 'Replace the secret notifications are signed with; the new one is shown this once',
        tags: ['connectors'],
        params: idParams,
        response: { 200: { type: 'object', required: ['notify_secret'], properties: { notify_secret: notifySecretField } } },
      },
    },
    async (req) => {
      const notify_secret = newSigningSecret();
      if (!(await setNotifySecret(app.pool, app.box, req.principal!.tenantId, req.params.id, notify_secret))) throw notFound('Connector');
      return { notify_secret };
    },
  );
}
