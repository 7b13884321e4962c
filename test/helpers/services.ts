/**
 * Where each real service the integration tests need is found, in this order:
 * 1. `QANATIX_TEST_<NAME>_URL` (used as given; a server that does not answer is an error),
 * 2. the local servers started by `scripts/services.sh up`,
 * 3. a testcontainers container, when a Docker engine answers.
 * When none answers the error names the command that starts them.
 */
import pg from 'pg';
import mysql from 'mysql2/promise';
import { MongoClient } from 'mongodb';
import neo4j from 'neo4j-driver';
import { Redis } from 'ioredis';

export type ServiceName = 'postgres' | 'mysql' | 'redis' | 'mongo' | 'neo4j';
export type ServiceResolution = { url: string; via: 'env' | 'local' | 'testcontainers' } | { error: string };

export const START_COMMAND = 'bash scripts/services.sh up';

interface ServiceSpec {
  env: string;
  local: string;
  image: string;
  port: number;
  containerEnv: Record<string, string>;
  /** Builds the URL of a container from its mapped host and port. */
  containerUrl(host: string, port: number): string;
  /** A real query; resolves when the server answers. */
  probe(url: string): Promise<void>;
}

export function neo4jParts(url: string): { uri: string; user: string; password: string } {
  const u = new URL(url);
  const user = decodeURIComponent(u.username || 'neo4j');
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { uri: u.toString().replace(/\/$/, ''), user, password };
}

export const SERVICES: Record<ServiceName, ServiceSpec> = {
  postgres: {
    env: 'QANATIX_TEST_PG_URL',
    local: 'postgres://qanatix:qanatix@127.0.0.1:5432/qanatix',
    image: 'postgres:16',
    port: 5432,
    containerEnv: { POSTGRES_USER: 'qanatix', POSTGRES_PASSWORD: 'qanatix', POSTGRES_DB: 'qanatix' },
    containerUrl: (h, p) => `postgres://qanatix:qanatix@${h}:${p}/qanatix`,
    async probe(url) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
      await client.connect();
      try {
        await client.query('select 1');
      } finally {
        await client.end();
      }
    },
  },
  mysql: {
    env: 'QANATIX_TEST_MYSQL_URL',
    local: 'mysql://qanatix:qanatix@127.0.0.1:3306/qanatix_source',
    image: 'mysql:8',
    port: 3306,
    containerEnv: { MYSQL_ROOT_PASSWORD: 'qanatix', MYSQL_DATABASE: 'qanatix_source' },
    containerUrl: (h, p) => `mysql://root:qanatix@${h}:${p}/qanatix_source`,
    async probe(url) {
      const conn = await mysql.createConnection({ uri: url, connectTimeout: 3000 });
      try {
        await conn.query('select 1');
      } finally {
        await conn.end();
      }
    },
  },
  redis: {
    env: 'QANATIX_TEST_REDIS_URL',
    local: 'redis://127.0.0.1:6379',
    image: 'redis:7',
    port: 6379,
    containerEnv: {},
    containerUrl: (h, p) => `redis://${h}:${p}`,
    async probe(url) {
      const redis = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
      redis.on('error', () => {}); // the connect() rejection carries it
      try {
        await redis.connect();
        await redis.ping();
      } finally {
        redis.disconnect();
      }
    },
  },
  mongo: {
    env: 'QANATIX_TEST_MONGO_URL',
    local: 'mongodb://127.0.0.1:27017/',
    image: 'mongo:7',
    port: 27017,
    containerEnv: {},
    containerUrl: (h, p) => `mongodb://${h}:${p}/`,
    async probe(url) {
      const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000, connectTimeoutMS: 3000 });
      try {
        await client.connect();
        await client.db('admin').command({ ping: 1 });
      } finally {
        await client.close();
      }
    },
  },
  neo4j: {
    env: 'QANATIX_TEST_NEO4J_URL',
    local: 'bolt://neo4j:qanatix-test@127.0.0.1:7687',
    image: 'neo4j:5',
    port: 7687,
    containerEnv: { NEO4J_AUTH: 'neo4j/qanatix-test' },
    containerUrl: (h, p) => `bolt://neo4j:qanatix-test@${h}:${p}`,
    async probe(url) {
      const { uri, user, password } = neo4jParts(url);
      const driver = neo4j.driver(uri, neo4j.auth.basic(user, password), { connectionTimeout: 3000 });
      // A plain session: executeQuery would retry for 30 s before giving up.
      const session = driver.session();
      try {
        await session.run('RETURN 1');
      } finally {
        await session.close();
        await driver.close();
      }
    },
  },
};

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether a Docker engine answers; testcontainers is only loaded then. */
async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export interface StartedServices {
  resolutions: Record<ServiceName, ServiceResolution>;
  stop(): Promise<void>;
}

export async function resolveServices(): Promise<StartedServices> {
  const stops: Array<() => Promise<unknown>> = [];
  let docker: boolean | undefined;
  const resolve = async (name: ServiceName): Promise<ServiceResolution> => {
    const spec = SERVICES[name];
    const given = process.env[spec.env];
    if (given) {
      try {
        await spec.probe(given);
        return { url: given, via: 'env' };
      } catch (err) {
        return { error: `${name} at ${spec.env} does not answer: ${message(err)}` };
      }
    }
    let localError: string;
    try {
      await spec.probe(spec.local);
      return { url: spec.local, via: 'local' };
    } catch (err) {
      localError = message(err);
    }
    docker ??= await dockerAnswers();
    if (docker) {
      const { GenericContainer } = await import('testcontainers');
      const container = await new GenericContainer(spec.image).withEnvironment(spec.containerEnv).withExposedPorts(spec.port).start();
      stops.push(() => container.stop());
      const url = spec.containerUrl(container.getHost(), container.getMappedPort(spec.port));
      for (let i = 0; ; i++) {
        try {
          await spec.probe(url);
          return { url, via: 'testcontainers' };
        } catch (err) {
          if (i >= 120) return { error: `${name} container ${spec.image} never answered: ${message(err)}` };
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
    return {
      error:
        `${name} is not reachable at ${spec.local} (${localError}), ${spec.env} is not set and no Docker engine answers. ` +
        `Start the services with: ${START_COMMAND}`,
    };
  };
  const names = Object.keys(SERVICES) as ServiceName[];
  const results = await Promise.all(names.map(resolve));
  return {
    resolutions: Object.fromEntries(names.map((n, i) => [n, results[i]])) as Record<ServiceName, ServiceResolution>,
    stop: async () => {
      await Promise.all(stops.map((s) => s()));
    },
  };
}
