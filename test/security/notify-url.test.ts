import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseSourceRules } from '../../src/source-policy';
import { bearer, testApi, type TestApi } from '../helpers/api';

/**
 * A connector's notify URL is the tenant's text, called from inside the installation: every spelling of an internal
 * address is refused when the connector is saved (a 422 at body.notify.url), and so are schemes other than http(s)
 * and plain http to a host the operator did not name. Delivery checks again (failure-notifications.test.ts).
 */
let open: TestApi;
let ruled: TestApi;
let openKey: string;
let ruledKey: string;

beforeAll(async () => {
  open = await testApi();
  openKey = await open.key('acme', ['connectors']);
  ruled = await testApi({
    sourceRules: { allow: parseSourceRules('127.0.0.0/8 ::1 10.1.0.0/16 hooks.internal.example', 'allow'), deny: [] },
  });
  ruledKey = await ruled.key('acme', ['connectors']);
});
afterAll(async () => {
  await Promise.all([open.close(), ruled.close()]);
});

async function save(t: TestApi, key: string, notify: unknown) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/connectors?dry_run=true',
    headers: bearer(key),
    payload: {
      name: 'n',
      connector_type: 'postgresql',
      connection_config: { dsn: 'postgresql://reader:pw@127.0.0.1:5432/erp' },
      vertical: 'v',
      entity_type: 'product',
      table: 'products',
      notify,
    },
  });
  return { status: res.statusCode, detail: res.json().detail as Array<{ loc: string[]; msg: string; type: string }> | undefined };
}

const INTERNAL = [
  'https://127.0.0.1/hook',
  'http://127.0.0.1:8080/hook',
  'https://127.1/',
  'https://127.0.0.255/',
  'https://2130706433/',
  'https://0x7f000001/',
  'https://0x7f.0.0.1/',
  'https://0177.0.0.1/',
  'https://017700000001/',
  'https://localhost/',
  'https://LOCALHOST./',
  'https://[::1]/',
  'https://[0:0:0:0:0:0:0:1]/',
  'https://[::ffff:127.0.0.1]/',
  'https://[::ffff:7f00:1]/',
  'https://[::127.0.0.1]/',
  'https://[0000::1]:443/',
  'https://0.0.0.0/',
  'https://0/',
  'https://[::]/',
  'https://10.0.0.1/',
  'https://10.255.255.255:8443/x',
  'https://172.16.0.1/',
  'https://172.31.255.254/',
  'https://192.168.1.1/',
  'https://100.64.0.1/',
  'https://169.254.169.254/latest/meta-data/',
  'https://169.254.170.2/v2/credentials',
  'https://[fd00:ec2::254]/',
  'https://100.100.100.200/',
  'https://metadata.google.internal/computeMetadata/v1/',
  'https://[fd12:3456::1]/',
  'https://[fe80::1]/',
  'https://224.0.0.1/',
  'https://[ff02::1]/',
  'https://255.255.255.255/',
  'https://198.18.0.1/',
  'https://[64:ff9b::7f00:1]/',
  // Userinfo that reads like a host: the host is what follows the @.
  'https://hooks.example.com@127.0.0.1/',
  'https://hooks.example.com:443@10.0.0.1/',
  'https://user:pass@[::1]/',
  'https://hooks.example.com%40@127.0.0.1/',
];

describe('a notify URL reaching an internal address is refused at save time', () => {
  test.each(INTERNAL)('%s', async (url) => {
    const { status, detail } = await save(open, openKey, { url });
    expect(status).toBe(422);
    expect(detail).toEqual([{ loc: ['body', 'notify', 'url'], msg: expect.any(String), type: 'value_error.source_denied' }]);
    expect(detail![0]!.msg).toMatch(/internal address|denied network|denied source host/);
    // The message names the URL without its credentials.
    expect(detail![0]!.msg).not.toMatch(/pass|user/);
  });
});

describe('only http(s) URLs naming a host are taken', () => {
  test.each([
    'ftp://hooks.example.com/x',
    'file:///etc/passwd',
    'gopher://hooks.example.com:70/_x',
    'javascript:alert(1)',
    'data:text/plain,hi',
    'ws://hooks.example.com/',
    'dict://127.0.0.1:11211/stat',
    'ldap://hooks.example.com/',
    'hooks.example.com/x',
    '//hooks.example.com/x',
    'https://',
    'https://hooks example.com/',
    'https://hooks.example.com:99999/',
  ])('%s', async (url) => {
    const { status, detail } = await save(open, openKey, { url });
    expect(status).toBe(422);
    expect(detail).toEqual([
      { loc: ['body', 'notify', 'url'], msg: expect.any(String), type: expect.stringMatching(/^invalid_(value|type)$/) },
    ]);
  });

  test('not a string, too long, or missing', async () => {
    for (const notify of [
      { url: 42 },
      { url: `https://hooks.example.com/${'a'.repeat(2100)}` },
      {},
      { url: null },
      'https://x.example.com',
      [],
    ]) {
      const { status, detail } = await save(open, openKey, notify);
      expect(status, JSON.stringify(notify)).toBe(422);
      expect(detail![0]!.loc.slice(0, 2)).toEqual(['body', 'notify']);
    }
  });
});

describe('what is accepted', () => {
  test('https to a public name; userinfo that only reads like a host does not change where the call goes', async () => {
    for (const url of [
      'https://hooks.example.com/qanatix',
      'https://127.0.0.1@hooks.example.com/x',
      'https://hooks.example.com:8443/x?token=t',
    ]) {
      expect((await save(open, openKey, { url })).status, url).toBe(200);
    }
  });

  test('plain http is refused unless the operator named the host; internal hosts pass only where the operator allows them', async () => {
    expect((await save(open, openKey, { url: 'http://hooks.example.com/x' })).detail![0]!.msg).toMatch(
      /plain http:\/\/ - write https:\/\//,
    );
    for (const url of [
      'http://127.0.0.1:9000/hook',
      'https://[::1]/',
      'http://10.1.2.3/hook',
      'https://hooks.internal.example/x',
      'http://hooks.internal.example/x',
    ]) {
      expect((await save(ruled, ruledKey, { url })).status, url).toBe(200);
    }
    for (const url of ['https://10.2.0.1/', 'https://192.168.0.1/', 'https://169.254.169.254/', 'http://hooks.example.com/']) {
      expect((await save(ruled, ruledKey, { url })).status, url).toBe(422);
    }
  });
});
