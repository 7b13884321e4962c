import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateKey, hasScope } from '../auth/api-keys';

export const BULL_BOARD_PATH = '/admin/queues';

const REALM = 'Basic realm="qanatix", charset="UTF-8"';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True when the request carries no Origin header (not a browser's cross-site request) or one naming this host. */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.host;
  } catch {
    return false; // "null" (sandboxed frames, some redirects) and garbage
  }
}

export interface BullBoardOptions {
  queues: Queue[];
}

/** The API key a request presents: the password of HTTP Basic auth (any user name) or a Bearer token. */
export function presentedKey(header: string | undefined): string | null {
  if (!header) return null;
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) return bearer[1]!.trim();
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1).trim();
}

/**
 * Bull Board at /admin/queues, behind an API key with `admin` scope. Browsers log in with HTTP Basic auth
 * (user name: anything, e.g. "admin"; password: the key); scripts may send `Authorization: Bearer <key>`.
 * Every request under the path is checked, the page, its JSON API, its static assets and its 404s alike; and
 * since browsers attach Basic credentials to cross-site form posts as well, a change (any method but GET/HEAD/OPTIONS)
 * with an Origin header of another host is refused.
 * Retrying and the board's other actions are allowed: only admins get in.
 */
export async function bullBoardRoutes(app: FastifyInstance, opts: BullBoardOptions) {
  const serverAdapter = new FastifyAdapter().setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: opts.queues.map((q) => new BullMQAdapter(q)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'qanatix queues' } },
  });

  await app.register(
    async (board) => {
      // The answer is sent here rather than thrown: errors in this scope would reach Bull Board's
      // error handler, which turns everything into a 500.
      const deny = (reply: FastifyReply, status: 401 | 403, detail: string) => {
        if (status === 401) reply.header('www-authenticate', REALM);
        return reply.code(status).header('cache-control', 'no-store').send({ detail });
      };
      board.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
        const key = presentedKey(req.headers.authorization);
        if (!key) return deny(reply, 401, 'Log in with an API key with admin scope: any user name, the key as password (or "Authorization: Bearer <key>").');
        const principal = await authenticateKey(app.pool, app.config.apiKeySalt, key);
        if (!principal) return deny(reply, 401, 'Invalid, revoked or expired API key.');
        if (!hasScope(principal, ['admin'])) return deny(reply, 403, 'The queue board needs an API key with admin scope.');
        // Browsers resend Basic credentials by themselves, to any page's form posts too: changes must come from the board's own origin.
        if (!SAFE_METHODS.has(req.method) && !sameOrigin(req)) return deny(reply, 403, 'Changes to the queue board are only accepted from the board itself (cross-origin request refused).');
        req.principal = principal;
      });
      // Unknown paths under the board answer 404 only after the credential check (the hook above runs for them too).
      board.setNotFoundHandler((req, reply) => reply.code(404).send({ detail: `No such endpoint: ${req.method} ${req.url.split('?')[0]}` }));
      await board.register(serverAdapter.registerPlugin());
    },
    { prefix: BULL_BOARD_PATH },
  );
}
