import { describe, expect, test } from 'vitest';
import { ConfigError } from '../../../connectors/config-error';
import { rejectUnknownKeys } from '../../../connectors/connection-checks';
import { DEFAULT_BATCH_SIZE, validateConnectorConfig } from '../../../connectors/connector-config';
import { definitionOf } from '../../../connectors/connector-definition';
import { ConnectorError } from '../../../connectors/connector-error';
import { effectiveLagSeconds } from '../../../connectors/read-window';
import { connectorTypes, type ConnectorType } from '../../../connectors/registry';

const pg = { connector_type: 'postgresql', connection_config: { dsn: 'postgres://reader:s3cret@db.example:5432/shop' } };
const mysql = { connector_type: 'mysql', connection_config: { host: 'db.example', user: 'reader', password: 's3cret', database: 'shop' } };

function issuesOf(raw: unknown, types?: Record<string, ConnectorType>) {
  try {
    validateConnectorConfig(raw, types);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('connector config', () => {
  test('a table definition gets its defaults', () => {
    const def = validateConnectorConfig({ ...pg, table: 'public.products', cursor: { column: 'updated_at' } });
    expect(def).toEqual({
      connector_type: 'postgresql',
      connection_config: { dsn: 'postgres://reader:s3cret@db.example:5432/shop', ssl: null, connect_timeout_seconds: 10 },
      query: null,
      table: 'public.products',
      columns: null,
      where: null,
      cursor: { column: 'updated_at', tiebreaker: null, lag_seconds: null, initial_value: null },
      primary_key: null,
      name_column: 'name',
      source_id: null,
      fields: { include: null, exclude: [], rename: {} },
      batch_size: DEFAULT_BATCH_SIZE,
      deletes: { mode: 'off', column: null, deleted_when: 'not_null', max_fraction: 0.5, sweep_schedule: null },
      verify_schedule: null,
      schema_drift: 'warn',
      notify: null,
    });
    expect(effectiveLagSeconds(def.cursor)).toBe(60);
  });

  test('a normalised definition validates to itself', () => {
    const def = validateConnectorConfig({
      ...mysql,
      query: 'SELECT * FROM products WHERE updated_at > :last_pull',
      cursor: { column: 'updated_at', tiebreaker: ['id'], lag_seconds: 0, initial_value: '2024-01-01T00:00:00Z' },
      primary_key: 'id',
      source_id: 'my-{id}',
      fields: { exclude: ['secret'], rename: { sku: 'code' } },
      batch_size: 100,
    });
    expect(validateConnectorConfig(def)).toEqual(def);
    expect(def.primary_key).toEqual(['id']);
    expect(def.cursor?.lag_seconds).toBe(0);
    expect(effectiveLagSeconds(def.cursor)).toBe(0);
  });

  test('query and table together are refused, and so is neither', () => {
    expect(issuesOf({ ...pg, query: 'SELECT 1', table: 'products' })).toEqual([
      { loc: ['query'], msg: 'cannot specify both query and table - choose one', type: 'conflict' },
    ]);
    expect(issuesOf({ ...pg })).toEqual([{ loc: [], msg: 'specify either query or table', type: 'missing' }]);
  });

  test('every issue is reported at once, with its location', () => {
    const issues = issuesOf({
      connector_type: 'postgresql',
      connection_config: { dsn: 'mysql://x@y/z' },
      table: 'products',
      cursor: { lag_seconds: -1, initial_value: { a: 1 }, colum: 'typo' },
      fields: { include: ['a'], exclude: ['b'], rename: { a: 'x', b: 'x' } },
      batch_size: 0,
      schedule: '* * * * *',
    });
    expect(issues.map((i) => i.loc.join('.'))).toEqual([
      'schedule',
      'connection_config.dsn',
      'cursor.colum',
      'cursor.column',
      'cursor.lag_seconds',
      'cursor.initial_value',
      'fields',
      'fields.rename.b',
      'batch_size',
    ]);
    expect(issues.find((i) => i.loc.join('.') === 'fields')?.msg).toBe('cannot specify both include and exclude - choose one');
    expect(issues.find((i) => i.loc.join('.') === 'cursor.column')?.type).toBe('missing');
  });

  test('the error is a non-retryable ConnectorError of kind config whose message lists the issues', () => {
    let error: unknown;
    try {
      validateConnectorConfig({ ...pg, table: 'products', batch_size: 'lots' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as ConnectorError).kind).toBe('config');
    expect((error as ConnectorError).retryable).toBe(false);
    expect((error as Error).message).toBe('invalid connector config: batch_size: must be a whole number between 1 and 100000');
  });

  test('unknown connector types name the known ones', () => {
    expect(issuesOf({ connector_type: 'oracle', connection_config: {}, table: 't' })).toEqual([
      {
        loc: ['connector_type'],
        msg: 'unknown connector type "oracle" - use one of postgresql, mysql, mongodb, neo4j',
        type: 'invalid_value',
      },
    ]);
  });

  test('columns and where belong to table mode', () => {
    const issues = issuesOf({ ...pg, query: 'SELECT 1', columns: ['a'], where: 'a > 1' });
    expect(issues.map((i) => [i.loc.join('.'), i.type])).toEqual([
      ['columns', 'conflict'],
      ['where', 'conflict'],
    ]);
  });

  test('query mode may configure the lag and initial value of :last_pull without a cursor column; table mode may not', () => {
    const def = validateConnectorConfig({ ...pg, query: 'SELECT * FROM t WHERE u > :last_pull', cursor: { lag_seconds: 30 } });
    expect(def.cursor).toEqual({ column: null, tiebreaker: null, lag_seconds: 30, initial_value: null });
    expect(issuesOf({ ...pg, table: 't', cursor: { lag_seconds: 30 } })[0]?.loc).toEqual(['cursor', 'column']);
  });

  test('a cursor can be given as just its column', () => {
    expect(validateConnectorConfig({ ...pg, table: 't', cursor: 'updated_at' }).cursor?.column).toBe('updated_at');
  });

  test('the tiebreaker must not repeat the cursor column', () => {
    expect(issuesOf({ ...pg, table: 't', cursor: { column: 'u', tiebreaker: ['id', 'u'] } })[0]?.msg).toMatch(
      /must not repeat the cursor column/,
    );
  });

  test('source_id templates are checked', () => {
    expect(issuesOf({ ...pg, table: 't', source_id: 'pg-{id' })[0]?.msg).toMatch(/unclosed "\{"/);
    expect(issuesOf({ ...pg, table: 't', source_id: 'pg-{}' })[0]?.msg).toMatch(/empty "\{\}"/);
    expect(validateConnectorConfig({ ...pg, table: 't', source_id: 'pg-{region}-{id}' }).source_id).toBe('pg-{region}-{id}');
  });

  describe('PostgreSQL connection_config', () => {
    test('needs a postgres:// DSN naming a database', () => {
      expect(issuesOf({ connector_type: 'postgresql', connection_config: {}, table: 't' })[0]).toMatchObject({
        loc: ['connection_config', 'dsn'],
        type: 'missing',
      });
      expect(issuesOf({ connector_type: 'postgresql', connection_config: { dsn: 'postgres://u:p@h:5432' }, table: 't' })[0]?.msg).toMatch(
        /must name a database/,
      );
      expect(issuesOf({ connector_type: 'postgresql', connection_config: { dsn: 'not a url' }, table: 't' })[0]?.msg).toMatch(
        /not a valid URL/,
      );
    });

    test('messages never repeat the DSN (it holds the password)', () => {
      for (const dsn of ['http://u:hunter22@h/db', 'postgres://u:hunter22@', 'postgres://u:hunter22@h:99999/db']) {
        const issues = issuesOf({ connector_type: 'postgresql', connection_config: { dsn }, table: 't' });
        expect(JSON.stringify(issues)).not.toContain('hunter22');
      }
    });

    test('TLS options', () => {
      const def = validateConnectorConfig({
        ...pg,
        connection_config: { ...pg.connection_config, ssl: { ca: 'PEM', reject_unauthorized: false } },
        table: 't',
      });
      expect(definitionOf(def, 'postgresql').connection_config.ssl).toEqual({ ca: 'PEM', reject_unauthorized: false });
      expect(issuesOf({ ...pg, connection_config: { ...pg.connection_config, ssl: { cert: 'PEM' } }, table: 't' })[0]?.msg).toBe(
        'cert and key go together - give both or neither',
      );
    });
  });

  describe('MySQL connection_config', () => {
    test('host parts, port defaulting to 3306', () => {
      expect(validateConnectorConfig({ ...mysql, table: 't' }).connection_config).toEqual({
        host: 'db.example',
        port: 3306,
        user: 'reader',
        password: 's3cret',
        database: 'shop',
        ssl: null,
        connect_timeout_seconds: 10,
      });
    });

    test('or a DSN, decoded into the same parts', () => {
      const def = validateConnectorConfig({
        connector_type: 'mysql',
        connection_config: { dsn: 'mysql://re%40der:p%2Fss@db.example:3307/shop' },
        table: 't',
      });
      expect(def.connection_config).toMatchObject({ host: 'db.example', port: 3307, user: 're@der', password: 'p/ss', database: 'shop' });
    });

    test('not both, and nothing silently ignored', () => {
      expect(issuesOf({ connector_type: 'mysql', connection_config: { dsn: 'mysql://u:p@h/db', host: 'h' }, table: 't' })[0]?.msg).toBe(
        'cannot specify both dsn and host - choose one',
      );
      expect(issuesOf({ connector_type: 'mysql', connection_config: { dsn: 'mysql://u:p@h/db?ssl=true' }, table: 't' })[0]?.msg).toMatch(
        /connection_config.ssl/,
      );
      expect(issuesOf({ connector_type: 'mysql', connection_config: { host: 'h' }, table: 't' }).map((i) => i.loc.join('.'))).toEqual([
        'connection_config.user',
        'connection_config.database',
      ]);
    });
  });

  describe('room for document and graph sources', () => {
    const mongoLike: ConnectorType = {
      tableAlias: 'collection',
      queryKind: 'document',
      validateConnection(value, report) {
        rejectUnknownKeys(value, ['uri'], report);
        return { ...value };
      },
      endpoints: () => [],
      create: () => {
        throw new Error('not in a unit test');
      },
    };
    const types = { ...connectorTypes, mongodb: mongoLike };
    const mongo = { connector_type: 'mongodb', connection_config: { uri: 'mongodb://h/db' } };

    test('a type names table mode its own way; the definition keeps it under `table`', () => {
      const def = validateConnectorConfig({ ...mongo, collection: 'products', cursor: { column: 'updatedAt' } }, types);
      expect(def.table).toBe('products');
      expect(issuesOf({ ...mongo, collection: 'a', table: 'b' }, types)[0]?.msg).toBe(
        'cannot specify both table and collection - choose one',
      );
      expect(issuesOf({ ...mongo, query: {}, collection: 'a' }, types)[0]?.msg).toBe(
        'cannot specify both query and collection - choose one',
      );
      expect(issuesOf({ ...mongo }, types)[0]?.msg).toBe('specify either query or collection');
      expect(issuesOf({ ...pg, collection: 'products' })[0]?.loc).toEqual(['collection']);
    });

    test('document queries and filters are objects (or JSON text of one)', () => {
      expect(validateConnectorConfig({ ...mongo, query: { status: 'active' } }, types).query).toEqual({ status: 'active' });
      expect(validateConnectorConfig({ ...mongo, query: '{"status": "active"}' }, types).query).toEqual({ status: 'active' });
      expect(validateConnectorConfig({ ...mongo, collection: 'p', where: { a: 1 } }, types).where).toEqual({ a: 1 });
      expect(issuesOf({ ...mongo, query: 'SELECT 1' }, types)[0]?.msg).toBe('must be a filter document (a JSON object)');
    });
  });
});
