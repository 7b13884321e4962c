import { describe, expect, test } from 'vitest';
import { ConfigError, type ConfigIssue } from '../../../connectors/config-error';
import { validateConnectorConfig } from '../../../connectors/connector-config';
import { mongodbClientOptions, type MongodbConnection } from '../../../connectors/mongodb/mongodb-config';
import { postgresqlClientConfig, type PostgresqlConnection } from '../../../connectors/postgresql/postgresql-config';
import { connectorTypes } from '../../../connectors/registry';

const SECRET = 'Sup3r-s3cret';
const definition = (connector_type: string, connection_config: Record<string, unknown>) => ({
  connector_type,
  connection_config,
  table: 't',
});

function issues(connector_type: string, connection_config: Record<string, unknown>): ConfigIssue[] {
  try {
    validateConnectorConfig(definition(connector_type, connection_config));
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    expect(JSON.stringify(err.issues) + err.message).not.toContain(SECRET);
    return [...err.issues];
  }
}

const pg = (query: string, host = 'db.example') => ({ dsn: `postgres://reader:${SECRET}@${host}:5432/shop${query}` });
const mysql = (query: string, host = 'db.example') => ({ dsn: `mysql://reader:${SECRET}@${host}:3306/shop${query}` });
const mongo = (query: string, hosts = 'db.example:27017') => ({ uri: `mongodb://reader:${SECRET}@${hosts}/${query}`, database: 'shop' });
const neo4j = (query: string, host = 'db.example') => ({ uri: `neo4j://${host}:7687${query}`, user: 'neo4j', password: SECRET });

/** Options that name a file on the worker, per source: each is refused by name, with the inline alternative. */
const FILE_OPTIONS: Array<[string, (q: string) => Record<string, unknown>, string[]]> = [
  ['postgresql', pg, ['sslrootcert', 'sslcert', 'sslkey', 'sslcrl', 'sslcrldir', 'sslpassword']],
  ['mysql', mysql, ['ssl-ca', 'ssl-cert', 'ssl-key', 'ssl-capath', 'sslca', 'ssl_ca', 'SSL-CA']],
  [
    'mongodb',
    mongo,
    ['tlsCAFile', 'tlsCertificateKeyFile', 'tlsCertificateKeyFilePassword', 'tlsCRLFile', 'sslCA', 'sslCert', 'sslKey', 'TLSCAFILE'],
  ],
];

describe('connection options never name a file on the server', () => {
  for (const [type, config, options] of FILE_OPTIONS) {
    test.each(options.flatMap((o) => [`${o}=/etc/passwd`, `${o}=/no/such/file`, `${o}=%2Fetc%2Fshadow`]))(`${type}: %s`, (option) => {
      const name = option.split('=')[0] as string;
      const found = issues(type, config(`?${option}`));
      expect(found).toEqual([
        {
          loc: ['connection_config', type === 'mongodb' ? 'uri' : 'dsn'],
          msg: `option "${name}" is not accepted - give certificates inline in connection_config.ssl (ca, cert, key): files on the server are never read`,
          type: 'invalid_value',
        },
      ]);
    });
  }

  test.each(['passfile=/home/x/.pgpass', 'service=prod', 'servicefile=/etc/pg_service.conf'])(
    'postgresql: %s is refused: the password goes in the dsn',
    (option) => {
      expect(issues('postgresql', pg(`?${option}`))[0]?.msg).toMatch(
        /write the user and password in the dsn itself: files on the server are never read/,
      );
    },
  );

  test.each(['local_infile=1', 'local-infile=true', 'socketPath=/var/run/mysqld/mysqld.sock'])('mysql: %s is refused', (option) => {
    expect(issues('mysql', mysql(`?${option}`))[0]?.msg).toMatch(/LOAD DATA LOCAL INFILE is never enabled|unix sockets are not accepted/);
  });

  test('neo4j: no options in the uri, no certificate files in the config', () => {
    expect(issues('neo4j', neo4j('?trustedCertificates=/etc/passwd'))[0]?.msg).toBe(
      'option "trustedCertificates" is not accepted - no options are read here',
    );
    expect(issues('neo4j', { ...neo4j(''), trustedCertificates: ['/etc/passwd'] })[0]).toMatchObject({
      loc: ['connection_config', 'trustedCertificates'],
      type: 'unknown_field',
    });
  });
});

describe('no option moves the connection or borrows the worker’s credentials', () => {
  test.each([
    'host=127.0.0.1',
    'hostaddr=127.0.0.1',
    'port=5433',
    'dbname=qanatix',
    'user=postgres',
    'password=x',
    'options=-c%20default_transaction_read_only%3Doff',
    'replication=database',
    'connect_timeout=1',
    'ssl=true',
    'sslnegotiation=direct',
    'uselibpqcompat=true',
    'channel_binding=require',
    'application_name=x',
  ])('postgresql: %s is refused by name', (option) => {
    const found = issues('postgresql', pg(`?sslmode=require&${option}`));
    expect(found).toHaveLength(1);
    expect(found[0]?.msg).toMatch(new RegExp(`^option "${option.split('=')[0]}" is not accepted - `));
  });

  test.each([
    'proxyHost=10.0.0.1',
    'proxyPort=1080',
    'proxyUsername=u',
    'authMechanismProperties=ENVIRONMENT:azure',
    'srvServiceName=x',
    'serverSelectionTimeoutMS=1',
    'readPreference=secondary',
  ])('mongodb: %s is refused by name', (option) => {
    expect(issues('mongodb', mongo(`?${option}`))[0]?.msg).toMatch(new RegExp(`^option "${option.split('=')[0]}" is not accepted - `));
  });

  test.each(['MONGODB-AWS', 'MONGODB-OIDC', 'GSSAPI', 'mongodb-aws'])(
    'mongodb: authMechanism=%s reads the worker’s own credentials and is refused',
    (mechanism) => {
      expect(issues('mongodb', mongo(`?authMechanism=${mechanism}`))[0]?.msg).toMatch(
        /authMechanism must be one of DEFAULT, SCRAM-SHA-1, SCRAM-SHA-256, PLAIN, MONGODB-X509/,
      );
    },
  );

  test('what the drivers may receive is accepted', () => {
    expect(issues('postgresql', pg('?sslmode=verify-full'))).toEqual([]);
    expect(
      issues(
        'mongodb',
        mongo(
          '?authSource=admin&replicaSet=rs0&tls=true&retryWrites=true&w=majority&appName=x&authMechanism=SCRAM-SHA-256',
          'a.example:27017,b.example:27018,[::1]:27019',
        ),
      ),
    ).toEqual([]);
    expect(
      issues('mongodb', { uri: `mongodb+srv://reader:${SECRET}@cluster0.example.net/?retryWrites=true&w=majority`, database: 'shop' }),
    ).toEqual([]);
    expect(issues('neo4j', neo4j(''))).toEqual([]);
    expect(issues('mysql', { host: 'db.example', user: 'reader', password: SECRET, database: 'shop' })).toEqual([]);
  });
});

describe('hosts are names or addresses, never paths, lists or escapes', () => {
  test.each([
    ['postgresql', pg('', '%2Fvar%2Frun%2Fpostgresql')],
    ['postgresql', pg('', '%6cocalhost')],
    ['postgresql', { dsn: `postgres://reader:${SECRET}@a.example,b.example:5432/shop` }],
    ['mysql', mysql('', '%2Ftmp%2Fmysql.sock')],
    ['mysql', { host: '/var/run/mysqld/mysqld.sock', user: 'r', password: SECRET, database: 'shop' }],
    ['mysql', { host: 'db.example:3306', user: 'r', password: SECRET, database: 'shop' }],
    ['mongodb', mongo('', '%2Ftmp%2Fmongodb-27017.sock')],
    ['mongodb', mongo('', 'mongodb-27017.sock')],
    ['mongodb', mongo('', 'a.example:27017,%2Ftmp%2Fm.sock')],
    ['mongodb', { uri: `mongodb+srv://reader:${SECRET}@cluster0.example.net:27017/`, database: 'shop' }],
    ['neo4j', neo4j('', '%6cocalhost')],
  ])('%s %j', (type, config) => {
    const found = issues(type, config);
    expect(found.length).toBeGreaterThan(0);
    expect(found.map((i) => i.msg).join(' ')).toMatch(/DNS name or IP address/);
  });
});

describe('PostgreSQL: the dsn is parsed once and pg gets its parts', () => {
  const connection = (dsn: string, ssl?: unknown) =>
    validateConnectorConfig(definition('postgresql', { dsn, ...(ssl === undefined ? {} : { ssl }) }))
      .connection_config as unknown as PostgresqlConnection;

  test('decoded parts, the port always explicit, and an empty password that stays empty', () => {
    const config = postgresqlClientConfig(connection('postgresql://r%40x:p%2Fw@[::1]/sh%6Fp'));
    expect({ ...config, password: config.password() }).toEqual({
      host: '::1',
      port: 5432,
      database: 'shop',
      user: 'r@x',
      password: 'p/w',
      ssl: false,
    });
    expect(postgresqlClientConfig(connection('postgres://reader@db.example:6432/shop')).password()).toBe('');
  });

  test('sslmode becomes ssl, keeping inline certificates; contradictions are reported', () => {
    expect(connection('postgres://r@h/db?sslmode=require').ssl).toEqual({ reject_unauthorized: true });
    expect(connection('postgres://r@h/db?sslmode=verify-full', { ca: 'PEM' }).ssl).toEqual({ reject_unauthorized: true, ca: 'PEM' });
    expect(connection('postgres://r@h/db?sslmode=no-verify', { ca: 'PEM' }).ssl).toEqual({ reject_unauthorized: false, ca: 'PEM' });
    expect(connection('postgres://r@h/db?sslmode=disable').ssl).toBeNull();
    expect(issues('postgresql', { dsn: 'postgres://r@h/db?sslmode=disable', ssl: true })[0]).toMatchObject({
      loc: ['connection_config', 'ssl'],
      type: 'conflict',
    });
    expect(issues('postgresql', { dsn: 'postgres://r@h/db?sslmode=require', ssl: false })[0]).toMatchObject({
      loc: ['connection_config', 'ssl'],
      type: 'conflict',
    });
    expect(issues('postgresql', { dsn: 'postgres://r@h/db?sslmode=sometimes' })[0]?.msg).toMatch(/sslmode must be one of/);
  });

  test('a normalised connection validates to itself', () => {
    const once = validateConnectorConfig(definition('postgresql', { dsn: 'postgres://r@h/db?sslmode=no-verify', ssl: { ca: 'PEM' } }));
    expect(validateConnectorConfig(once)).toEqual(once);
  });

  test('every source type names the servers it points at', () => {
    expect(connectorTypes.postgresql!.endpoints({ dsn: 'postgres://r@DB.example/Shop' })).toEqual([
      { field: 'dsn', host: 'DB.example', port: 5432, database: 'Shop' },
    ]);
    expect(connectorTypes.mysql!.endpoints({ dsn: 'mysql://r@[::1]/shop' })).toEqual([{ field: 'dsn', host: '::1', port: 3306 }]);
    expect(connectorTypes.mysql!.endpoints({ host: 'db.example', port: 3307 })).toEqual([
      { field: 'host', host: 'db.example', port: 3307 },
    ]);
    expect(connectorTypes.mongodb!.endpoints({ uri: 'mongodb://a.example,b.example:27018/?replicaSet=rs' })).toEqual([
      { field: 'uri', host: 'a.example', port: 27017 },
      { field: 'uri', host: 'b.example', port: 27018 },
    ]);
    expect(connectorTypes.mongodb!.endpoints({ uri: 'mongodb+srv://c.example/' })).toEqual([
      { field: 'uri', host: 'c.example', port: null, srv: true },
    ]);
    expect(connectorTypes.neo4j!.endpoints({ uri: 'neo4j+s://g.example' })).toEqual([{ field: 'uri', host: 'g.example', port: 7687 }]);
  });
});

describe('MongoDB: certificates inline in ssl', () => {
  test('ssl reaches the client as inline PEM; a normalised connection validates to itself', () => {
    const once = validateConnectorConfig(
      definition('mongodb', { ...mongo('?tls=true'), ssl: { ca: 'CA PEM', cert: 'CERT', key: 'KEY', reject_unauthorized: false } }),
    );
    expect(validateConnectorConfig(once)).toEqual(once);
    expect(mongodbClientOptions(once.connection_config as unknown as MongodbConnection)).toEqual({
      tls: true,
      tlsAllowInvalidCertificates: true,
      ca: 'CA PEM',
      cert: 'CERT',
      key: 'KEY',
    });
    const plain = validateConnectorConfig(definition('mongodb', mongo('')));
    expect(validateConnectorConfig(plain)).toEqual(plain);
    expect(mongodbClientOptions(plain.connection_config as unknown as MongodbConnection)).toEqual({});
  });

  test('a server name is refused: each server is verified by its own name', () => {
    expect(issues('mongodb', { ...mongo(''), ssl: { servername: 'x.example' } })[0]).toMatchObject({
      loc: ['connection_config', 'ssl', 'servername'],
    });
  });
});

describe('every normalised connection validates to itself', () => {
  test.each([
    ['postgresql', pg('?sslmode=require')],
    ['mysql', mysql('')],
    ['mysql', { host: 'db.example', user: 'r', password: SECRET, database: 'shop', ssl: true }],
    ['mongodb', mongo('?replicaSet=rs')],
    ['neo4j', neo4j('')],
  ])('%s %#', (type, config) => {
    const once = validateConnectorConfig(definition(type, config));
    expect(validateConnectorConfig(once)).toEqual(once);
  });
});
