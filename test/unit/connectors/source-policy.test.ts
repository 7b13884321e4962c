import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConnectorError } from '../../../connectors/connector-error';
import { SourceDeniedError } from '../../../connectors/source-denied-error';
import {
  BUILT_IN_DENY_RULES,
  checkEndpoints,
  type SourceEndpoint,
  type SourcePolicy,
  type SourceResolver,
} from '../../../connectors/source-policy';
import { SourceReach } from '../../../connectors/source-reach';
import { canonicalAddress, parseSourceRule } from '../../../connectors/source-rules';

/** A resolver with a zone of its own; names outside it do not resolve. */
function zone(
  records: Record<string, string[]>,
  services: Record<string, Array<{ name: string; port: number }>> = {},
): SourceResolver & { records: typeof records } {
  return {
    records,
    async addresses(host) {
      const found = records[host.toLowerCase()];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return found;
    },
    async services(name) {
      const found = services[name];
      if (!found) throw Object.assign(new Error(`querySrv ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
      return found;
    },
  };
}

const rules = (...texts: string[]) => texts.map(parseSourceRule);
const platform = { networks: ['127.0.0.0/8', '::1', '0.0.0.0/8', '::'], ports: [5432], databases: ['qanatix'], marker: null };
const policy = (over: Partial<SourcePolicy> = {}): SourcePolicy => ({ deny: BUILT_IN_DENY_RULES, allow: [], platform, ...over });
const pg = (host: string, database = 'qanatix', port = 5432): SourceEndpoint => ({ field: 'dsn', host, port, database });
const at = (host: string, port: number | null = 5432): SourceEndpoint => ({ field: 'host', host, port });

/** The refusal message for an endpoint, or null when it may be reached (unresolvable names pass, as on save). */
async function verdict(endpoint: SourceEndpoint, p: SourcePolicy = policy()): Promise<string | null> {
  try {
    await checkEndpoints([endpoint], p, false);
    return null;
  } catch (err) {
    if (err instanceof SourceDeniedError) return err.message;
    throw err;
  }
}

describe('source rules', () => {
  test.each([
    ['10.0.0.0/8', { port: null, name: null }],
    ['10.0.0.0/8:5432', { port: 5432, name: null }],
    ['192.168.1.10', { port: null, name: null }],
    ['fd00::/8', { port: null, name: null }],
    ['[fd00::/8]:5432', { port: 5432, name: null }],
    ['[::1]', { port: null, name: null }],
    ['db.example.com', { port: null, name: 'db.example.com', subdomains: false }],
    ['DB.Example.COM.:3306', { port: 3306, name: 'db.example.com' }],
    ['*.corp.example', { port: null, name: 'corp.example', subdomains: true }],
  ])('%s parses', (text, expected) => {
    expect(parseSourceRule(text)).toMatchObject(expected);
  });

  test.each([
    '10.0.0.0/33',
    'fd00::/129',
    '10.0.0.0/x',
    '[::1]:70000',
    'db.example.com:0',
    'a b',
    '/8',
    '*.',
    'host/8',
    'under_score..example',
    '[nothing]',
  ])('%s is refused with a message that says what to write', (text) => {
    expect(() => parseSourceRule(text)).toThrow(/is not a source rule: .* - write a network/);
  });

  test.each([
    ['[::ffff:127.0.0.1]', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['FE80::1%eth0', 'fe80::1'],
    ['10.1.2.3', '10.1.2.3'],
  ])('%s is spelled %s', (address, canonical) => {
    expect(canonicalAddress(address)).toBe(canonical);
  });
});

describe('the platform database is refused by address, port and name, not by spelling', () => {
  // Real resolution: the numeric spellings and localhost are what the drivers' own connects would use.
  test.each([
    '127.0.0.1',
    'localhost',
    'LOCALHOST',
    '127.1',
    '2130706433',
    '0x7f000001',
    '0177.0.0.1',
    '127.0.0.2',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
  ])('host %s', async (host) => {
    expect(await verdict(pg(host))).toMatch(
      /is this installation's own database: connectors may not read it - change connection_config.dsn/,
    );
  });

  test('the database name in any case; other databases and ports of the same server are sources', async () => {
    expect(await verdict(pg('127.0.0.1', 'QANATIX'))).toMatch(/own database/);
    expect(await verdict(pg('127.0.0.1', 'QaNaTiX'))).toMatch(/own database/);
    expect(await verdict(pg('127.0.0.1', 'qanatix_source'))).toBeNull();
    expect(await verdict(pg('127.0.0.1', 'qanatix', 5433))).toBeNull();
  });

  test('a name that resolves to the platform, among other addresses, is refused', async () => {
    const resolver = zone({ 'db.example.net': ['10.9.9.9', '127.0.0.1'] });
    expect(await verdict(pg('db.example.net'), policy({ resolver }))).toMatch(/own database/);
  });

  test('only PostgreSQL endpoints (with a database) compare with the platform database', async () => {
    expect(await verdict(at('127.0.0.1', 5432))).toBeNull();
  });
});

describe('deny and allow rules', () => {
  const resolver = zone({
    'metadata.example': ['169.254.169.254'],
    'mixed.example': ['10.1.1.1', '169.254.169.254'],
    'v6.example': ['fd12::5'],
    'db.corp.example': ['10.20.0.5'],
    'corp.example': ['10.20.0.1'],
    'outside.example': ['203.0.113.7'],
    'two.example': ['10.20.0.6', '203.0.113.8'],
  });

  test.each([
    ['169.254.169.254', /denied network \(169\.254\.169\.254, rule 169\.254\.0\.0\/16\)/],
    ['169.254.170.2', /rule 169\.254\.0\.0\/16/],
    ['fe80::1', /rule fe80::\/10/],
    ['fd00:ec2::254', /rule fd00:ec2::254/],
    ['100.100.100.200', /rule 100\.100\.100\.200/],
    ['metadata.google.internal', /denied source host \(rule metadata\.google\.internal\)/],
    ['METADATA.GOOGLE.INTERNAL.', /rule metadata\.google\.internal/],
    ['0.0.0.0', /rule 0\.0\.0\.0\/8/],
    ['::', /rule ::/],
    ['::ffff:169.254.169.254', /rule 169\.254\.0\.0\/16/],
    ['metadata.example', /169\.254\.169\.254, rule 169\.254\.0\.0\/16/],
    ['mixed.example', /169\.254\.169\.254/],
  ])('built in: %s is denied on every port, whatever the operator allows', async (host, message) => {
    for (const port of [80, 3306, 5432]) {
      expect(await verdict(at(host, port), policy({ resolver, platform: null }))).toMatch(message);
      expect(
        await verdict(
          at(host, port),
          policy({ resolver, platform: null, allow: rules('0.0.0.0/0', '::/0', '*.example', 'metadata.google.internal') }),
        ),
      ).toMatch(message);
    }
  });

  test('operator denies: IPv4 and IPv6 networks, names and their subdomains, with and without a port', async () => {
    const deny = [...BUILT_IN_DENY_RULES, ...rules('10.20.0.0/16:5432', 'fd12::/16', '*.corp.example', 'outside.example:3306')];
    const p = policy({ resolver, deny, platform: null });
    expect(await verdict(at('10.20.0.9', 5432), p)).toMatch(/rule 10\.20\.0\.0\/16:5432/);
    expect(await verdict(at('10.20.0.9', 3306), p)).toBeNull();
    expect(await verdict(at('v6.example', 7687), p)).toMatch(/fd12::5, rule fd12::\/16/);
    expect(await verdict(at('[fd12::9]'.slice(1, -1), 27017), p)).toMatch(/rule fd12::\/16/);
    expect(await verdict(at('db.corp.example', 27017), p)).toMatch(/rule \*\.corp\.example/);
    expect(await verdict(at('corp.example', 27017), p)).toBeNull();
    expect(await verdict(at('outside.example', 3306), p)).toMatch(/rule outside\.example:3306/);
    expect(await verdict(at('outside.example', 5432), p)).toBeNull();
  });

  test('an allow list admits its names and networks only; every address of a name must be allowed', async () => {
    const p = policy({ resolver, platform: null, allow: rules('10.20.0.0/16', '[fd12::/16]:7687', 'outside.example:5432') });
    expect(await verdict(at('10.20.3.4', 3306), p)).toBeNull();
    expect(await verdict(at('db.corp.example', 3306), p)).toBeNull();
    expect(await verdict(at('v6.example', 7687), p)).toBeNull();
    expect(await verdict(at('v6.example', 7688), p)).toMatch(/is not among the source hosts this installation allows/);
    expect(await verdict(at('outside.example', 5432), p)).toBeNull();
    expect(await verdict(at('outside.example', 3306), p)).toMatch(/not among/);
    expect(await verdict(at('two.example', 3306), p)).toMatch(/not among/);
    expect(await verdict(at('203.0.113.9', 3306), p)).toMatch(/not among/);
  });

  test('a port rule applies to a server whose port is not known when it denies, never when it allows', async () => {
    const p = policy({ resolver, platform: null, deny: rules('10.20.0.0/16:22'), allow: rules('10.20.0.0/16:27017') });
    expect(await verdict(at('10.20.0.5', null), p)).toMatch(/rule 10\.20\.0\.0\/16:22/);
    expect(await verdict(at('10.30.0.5', null), policy({ resolver, platform: null, allow: rules('10.30.0.0/16:27017') }))).toMatch(
      /not among/,
    );
  });

  test('a name that does not resolve passes a save and fails a connection as unreachable', async () => {
    const p = policy({ resolver: zone({}) });
    expect(await verdict(at('nowhere.example'), p)).toBeNull();
    const err = await checkEndpoints([at('nowhere.example')], p, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ kind: 'unreachable', retryable: true, code: 'ENOTFOUND' });
  });

  test('mongodb+srv: the record name and every server it lists are checked, each on its own port', async () => {
    const srv = zone(
      { 'a.cluster.example': ['10.1.0.1'], 'b.cluster.example': ['169.254.169.254'] },
      {
        '_mongodb._tcp.ok.example': [{ name: 'a.cluster.example', port: 27017 }],
        '_mongodb._tcp.bad.example': [
          { name: 'a.cluster.example', port: 27017 },
          { name: 'b.cluster.example', port: 27017 },
        ],
      },
    );
    const endpoint = (host: string): SourceEndpoint => ({ field: 'uri', host, port: null, srv: true });
    expect(await verdict(endpoint('ok.example'), policy({ resolver: srv }))).toBeNull();
    expect(await verdict(endpoint('bad.example'), policy({ resolver: srv }))).toMatch(/b\.cluster\.example:27017 is on a denied network/);
    expect(await verdict(endpoint('ok.example'), policy({ resolver: srv, deny: rules('10.1.0.0/16:27017') }))).toMatch(
      /rule 10\.1\.0\.0\/16:27017/,
    );
    expect(await verdict(endpoint('ok.example'), policy({ resolver: srv, deny: rules('*.example') }))).toMatch(
      /ok\.example is a denied source host/,
    );
  });
});

describe('a checked source is connected to where it was checked', () => {
  let server: Server;
  let port: number;
  const accepted: string[] = [];
  beforeAll(async () => {
    server = createServer((s) => {
      accepted.push(s.remoteAddress ?? '');
      s.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('DNS that changes after the check does not move the connection', async () => {
    const resolver = zone({ 'source.example': ['127.0.0.1'] });
    const reach = await SourceReach.check([at('source.example', port)], policy({ resolver, platform: null }));
    resolver.records['source.example'] = ['169.254.169.254'];
    const socket = reach.connect(port, 'source.example');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    expect(socket.remoteAddress).toBe('127.0.0.1');
    socket.destroy();
  });

  test('a socket asked for another host, another port or a path fails without connecting', async () => {
    const reach = await SourceReach.check([at('127.0.0.1', port)], policy({ platform: null }));
    const attempts = [
      () => reach.socket().connect(port + 1, '127.0.0.1'),
      () => reach.socket().connect(port, '127.0.0.2'),
      () => reach.socket().connect('/tmp/.s.PGSQL.5432'),
    ];
    for (const attempt of attempts) {
      const err = await new Promise<Error>((resolve) => attempt().once('error', resolve));
      expect(err).toBeInstanceOf(SourceDeniedError);
      expect(err.message).toMatch(/a server other than the one checked/);
    }
  });

  test('the lookup a driver gets answers checked names as checked, and checks names it meets later', async () => {
    const resolver = zone({ 'a.example': ['10.1.0.1'], 'member.example': ['169.254.169.254'], 'other.example': ['10.1.0.2'] });
    const reach = await SourceReach.check([{ field: 'uri', host: 'a.example', port: 27017 }], policy({ resolver, platform: null }));
    resolver.records['a.example'] = ['10.66.0.1'];
    const lookup = (name: string) =>
      new Promise<unknown>((resolve) => reach.lookup(name, { all: true }, (err, addresses) => resolve(err ?? addresses)));
    expect(await lookup('a.example')).toEqual([{ address: '10.1.0.1', family: 4 }]);
    expect(await lookup('other.example')).toEqual([{ address: '10.1.0.2', family: 4 }]);
    expect(await lookup('member.example')).toBeInstanceOf(SourceDeniedError);
  });
});
