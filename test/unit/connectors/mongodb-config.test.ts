import { describe, expect, test } from 'vitest';
import type { ConfigIssue } from '../../../connectors/config-error';
import { describeMongodbUri, validateMongodbConnection } from '../../../connectors/mongodb/mongodb-config';
import { toConnectorError } from '../../../connectors/mongodb/mongodb-errors';

const validate = (value: Record<string, unknown>) => {
  const issues: ConfigIssue[] = [];
  const connection = validateMongodbConnection(value, (loc, msg, type = 'invalid_value') => issues.push({ loc, msg, type }));
  return { connection, issues };
};

describe('MongoDB connection_config', () => {
  test('uri and database are required; read preference and concern are settable', () => {
    expect(
      validate({
        uri: 'mongodb://h1:27017,h2:27017/?replicaSet=rs',
        database: 'shop',
        read_preference: 'secondaryPreferred',
        read_concern: 'majority',
      }),
    ).toEqual({
      connection: {
        uri: 'mongodb://h1:27017,h2:27017/?replicaSet=rs',
        database: 'shop',
        collection: null,
        read_preference: 'secondaryPreferred',
        read_concern: 'majority',
        ssl: null,
        connect_timeout_seconds: 10,
      },
      issues: [],
    });
    expect(validate({}).issues.map((i) => i.loc.join('.'))).toEqual(['uri', 'database']);
  });

  test('bad values are named without echoing the uri', () => {
    const { issues } = validate({
      uri: 'postgres://u:s3cret@h/db',
      database: 'x',
      read_preference: 'fastest',
      read_concern: 'strong',
      extra: 1,
    });
    expect(issues.map((i) => i.loc.join('.')).sort()).toEqual(['extra', 'read_concern', 'read_preference', 'uri']);
    expect(JSON.stringify(issues)).not.toContain('s3cret');
  });

  test('messages never carry the password', () => {
    const { target, secrets } = describeMongodbUri('mongodb+srv://reader:p%40ss@cluster0.example.net/?retryWrites=true', 'shop');
    expect(target).toBe('cluster0.example.net/shop');
    const err = new Error('Authentication failed for mongodb+srv://reader:p%40ss@cluster0.example.net with p@ss') as Error & {
      code: number;
    };
    err.code = 18;
    const mapped = toConnectorError(err, { target, secrets });
    expect(mapped).toMatchObject({ kind: 'auth', retryable: false });
    expect(mapped.message).not.toMatch(/p%40ss|p@ss/);
  });
});
