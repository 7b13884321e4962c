import { describe, expect, test } from 'vitest';
import { ConnectorError, networkReason, redactSecrets } from '../../../connectors/connector-error';
import { toConnectorError as mysqlError } from '../../../connectors/mysql/mysql-errors';
import { toConnectorError as pgError } from '../../../connectors/postgresql/postgresql-errors';

const ctx = { target: 'db.example:5432/shop', host: 'db.example', secrets: ['hunter22'] };

function driverError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe('ConnectorError', () => {
  test('only unreachable and transient are retryable', () => {
    expect(new ConnectorError('unreachable', 'x').retryable).toBe(true);
    expect(new ConnectorError('transient', 'x').retryable).toBe(true);
    for (const kind of ['config', 'auth', 'not_found', 'syntax', 'permission', 'no_key'] as const)
      expect(new ConnectorError(kind, 'x').retryable).toBe(false);
  });

  test('messages lose URL credentials, password keywords and given secrets', () => {
    expect(redactSecrets('failed for postgres://reader:hunter22@db:5432/shop and mysql://u@h/db')).toBe(
      'failed for postgres://db:5432/shop and mysql://h/db',
    );
    expect(redactSecrets('host=db password=hunter22 user=x')).toBe('host=db password=*** user=x');
    expect(redactSecrets('(using password: YES)')).toBe('(using password: YES)');
    expect(new ConnectorError('auth', 'echo hunter22 back', { secrets: ['hunter22'] }).message).toBe('echo *** back');
  });
});

describe('driver errors', () => {
  test('PostgreSQL SQLSTATEs and network codes map to kinds', () => {
    const kind = (err: Error) => (pgError(err, ctx) as ConnectorError).kind;
    expect(kind(driverError('password authentication failed', { code: '28P01' }))).toBe('auth');
    expect(kind(driverError('database "x" does not exist', { code: '3D000' }))).toBe('not_found');
    expect(kind(driverError('relation "x" does not exist', { code: '42P01' }))).toBe('not_found');
    expect(kind(driverError('syntax error at or near "x"', { code: '42601' }))).toBe('syntax');
    const several = pgError(
      driverError('cannot insert multiple commands into a prepared statement', { code: '42601' }),
      ctx,
    ) as ConnectorError;
    expect([several.kind, several.message]).toEqual(['syntax', expect.stringContaining('remove the ";"')]);
    expect(kind(driverError('cannot execute INSERT in a read-only transaction', { code: '25006' }))).toBe('permission');
    expect(kind(driverError('WITH clause containing a data-modifying statement must be at the top level', { code: '0A000' }))).toBe(
      'permission',
    );
    expect(kind(driverError('permission denied for table t', { code: '42501' }))).toBe('permission');
    expect(kind(driverError('deadlock detected', { code: '40P01' }))).toBe('transient');
    expect(kind(driverError('could not serialize access', { code: '40001' }))).toBe('transient');
    expect(kind(driverError('connect ECONNREFUSED', { code: 'ECONNREFUSED' }))).toBe('unreachable');
    expect(kind(driverError('getaddrinfo ENOTFOUND db.example', { code: 'ENOTFOUND' }))).toBe('unreachable');
    expect(kind(driverError('', { errors: [{ code: 'ETIMEDOUT' }] }))).toBe('unreachable');
    expect(kind(driverError('Connection terminated unexpectedly', {}))).toBe('unreachable');
    expect(kind(driverError('self-signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }))).toBe('config');
    const plain = new TypeError('a bug');
    expect(pgError(plain, ctx)).toBe(plain);
  });

  test('MySQL error names map to kinds', () => {
    const kind = (err: Error) => (mysqlError(err, ctx) as ConnectorError).kind;
    expect(kind(driverError("Access denied for user 'u'@'h' (using password: YES)", { code: 'ER_ACCESS_DENIED_ERROR' }))).toBe('auth');
    expect(kind(driverError("Table 'x.y' doesn't exist", { code: 'ER_NO_SUCH_TABLE' }))).toBe('not_found');
    expect(kind(driverError("Unknown database 'x'", { code: 'ER_BAD_DB_ERROR' }))).toBe('not_found');
    expect(kind(driverError('You have an error in your SQL syntax', { code: 'ER_PARSE_ERROR', sqlState: '42000' }))).toBe('syntax');
    expect(
      kind(driverError('Cannot execute statement in a READ ONLY transaction', { code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION' })),
    ).toBe('permission');
    expect(kind(driverError('SELECT command denied', { code: 'ER_TABLEACCESS_DENIED_ERROR', sqlState: '42000' }))).toBe('permission');
    expect(kind(driverError('Deadlock found', { code: 'ER_LOCK_DEADLOCK' }))).toBe('transient');
    expect(kind(driverError('Connection lost', { code: 'PROTOCOL_CONNECTION_LOST' }))).toBe('unreachable');
    expect(kind(driverError('connect ETIMEDOUT', { code: 'ETIMEDOUT' }))).toBe('unreachable');
  });

  test('a secret in a driver message does not survive', () => {
    const err = pgError(
      driverError('could not connect to postgres://reader:hunter22@db.example/shop', { code: '08001' }),
      ctx,
    ) as ConnectorError;
    expect(err.message).not.toContain('hunter22');
    expect(err.kind).toBe('unreachable');
  });
});

describe('networkReason', () => {
  test.each([
    ['ENOTFOUND', 'host "db.example" not found'],
    ['EAI_AGAIN', 'host "db.example" not found'],
    ['getaddrinfo ENOTFOUND db.example', 'host "db.example" not found'],
    ['ECONNREFUSED', 'connection refused'],
    ['connect ECONNREFUSED 127.0.0.1:5432', 'connection refused'],
    ['connect ETIMEDOUT 10.0.0.1:3306', 'timed out'],
    ['EHOSTUNREACH', 'otherwise'],
    ['Connection lost', 'otherwise'],
  ])('%s', (text, reason) => {
    expect(networkReason(text, 'otherwise', 'db.example')).toBe(reason);
  });

  test('names no host when none is given', () => {
    expect(networkReason('getaddrinfo ENOTFOUND mongo.internal', 'x')).toBe('host not found');
  });

  test('every SQL source words an unknown host, a refusal and a timeout the same way', () => {
    for (const toError of [pgError, mysqlError]) {
      expect(toError(driverError('x', { code: 'ENOTFOUND' }), ctx).message).toContain('host "db.example" not found');
      expect(toError(driverError('x', { code: 'ECONNREFUSED' }), ctx).message).toContain('connection refused');
      expect(toError(driverError('x', { code: 'ETIMEDOUT' }), ctx).message).toContain('timed out');
      expect(toError(driverError('x', { code: 'EHOSTUNREACH' }), ctx).message).toContain('connection failed (EHOSTUNREACH)');
    }
  });
});
