import type { FastifyInstance } from 'fastify';
import { buildApp, REDACT_PATHS } from './api/app';
import type { Config } from './config';
import { migrate } from './db/migrate';
import { createPool } from './db/pool';

/** Starts the HTTP API: migrates, listens, and closes cleanly on SIGTERM/SIGINT. */
export async function startApi(config: Config): Promise<FastifyInstance> {
  const pool = createPool(config.databaseUrl, 20);
  await migrate(pool);
  const app = await buildApp({ pool, config, logger: { level: config.logLevel, redact: REDACT_PATHS } });
  if (!config.webhookSecret) {
    app.log.warn('WEBHOOK_SECRET is not set: webhook calls are accepted without a signature');
  }
  app.addHook('onClose', () => pool.end());
  await app.listen({ host: config.host, port: config.port });
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return app;
}
