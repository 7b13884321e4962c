import { createHash, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { authenticateOperator } from './auth/operator-credentials';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `/metrics` (the API's and a worker's) names every tenant's connectors, so it is not public: it answers
 * `Authorization: Bearer <METRICS_TOKEN>` (what a Prometheus scrape config sends) or an operator credential. Without
 * METRICS_TOKEN only operators get in. Resolves to null when the caller may read them, else to why not.
 */
export async function metricsRefusal(
  authorization: string | undefined,
  o: { pool: pg.Pool; apiKeySalt: string; metricsToken: string | null },
): Promise<string | null> {
  const token = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
  if (!token) return 'Metrics need a credential: "Authorization: Bearer <METRICS_TOKEN>" or an operator credential.';
  if (o.metricsToken && timingSafeEqual(digest(token), digest(o.metricsToken))) return null;
  if (await authenticateOperator(o.pool, o.apiKeySalt, token)) return null;
  return 'Invalid metrics token or operator credential.';
}
