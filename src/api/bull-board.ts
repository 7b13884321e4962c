import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateOperator } from '../auth/operator-credentials';

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

/** A presented credential: HTTP Basic auth gives a user name and the token as password; a Bearer token has no user. */
export interface PresentedCredential {
  user: string | null;
  token: string;
}

function presentedCredential(header: string | undefined): PresentedCredential | null {
  if (!header) return null;
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) return { user: null, token: bearer[1]!.trim() };
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { user: decoded.slice(0, colon), token: decoded.slice(colon + 1).trim() };
}

/**
 * Bull Board at /admin/queues, for operators only: it shows and drives every tenant's jobs and the queue itself,
 * so no tenant key opens it. Browsers log in with HTTP Basic auth (user name: the operator's name, password: the
 * operator token from "qanatix operator create"); scripts may send `Authorization: Bearer <token>`.
 * Every request under the path is checked, the page, its JSON API, its static assets and its 404s alike; and
 * since browsers attach Basic credentials to cross-site form posts as well, a change (any method but GET/HEAD/OPTIONS)
 * with an Origin header of another host is refused.
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
        const presented = presentedCredential(req.headers.authorization);
        if (!presented)
          return deny(
            reply,
            401,
            'Log in with an operator credential: user name = the operator\'s name, password = its op_live_ token ("qanatix operator create").',
          );
        if (presented.token.startsWith('sk_live_')) {
          return deny(
            reply,
            403,
            "The queue board shows every tenant's jobs: it needs an operator credential, and no tenant API key opens it.",
          );
        }
        const op = await authenticateOperator(app.pool, app.config.apiKeySalt, presented.token);
        if (!op || (presented.user !== null && presented.user !== op.name)) {
          return deny(reply, 401, "Invalid or revoked operator credential, or a user name that is not its operator's.");
        }
        // Browsers resend Basic credentials by themselves, to any page's form posts too: changes must come from the board's own origin.
        if (!SAFE_METHODS.has(req.method) && !sameOrigin(req))
          return deny(reply, 403, 'Changes to the queue board are only accepted from the board itself (cross-origin request refused).');
        req.operator = op;
      });
      // Unknown paths under the board answer 404 only after the credential check (the hook above runs for them too).
      board.setNotFoundHandler((req, reply) =>
        reply.code(404).send({ detail: `No such endpoint: ${req.method} ${req.url.split('?')[0]}` }),
      );
      await board.register(serverAdapter.registerPlugin());
    },
    { prefix: BULL_BOARD_PATH },
  );
}
