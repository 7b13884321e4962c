import { describe, expect, test } from 'vitest';
import { probe, ProbeFailure } from '../../src/health-probe';

const failing = (err: unknown) => () => Promise.reject(err);
const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('/readyz probes', () => {
  test('a driver message never reaches the answer: each failure class gets its fixed words', async () => {
    const cases: Array<[unknown, string]> = [
      [withCode('connect ECONNREFUSED 10.20.30.40:5432', 'ECONNREFUSED'), 'connection refused'],
      [withCode('getaddrinfo ENOTFOUND billing-db.corp.internal', 'ENOTFOUND'), 'host not found'],
      [withCode('getaddrinfo EAI_AGAIN billing-db.corp.internal', 'EAI_AGAIN'), 'host not found'],
      [withCode('connect ETIMEDOUT 10.20.30.40:5432', 'ETIMEDOUT'), 'connection timed out'],
      [withCode('connect EHOSTUNREACH 10.20.30.40:5432', 'EHOSTUNREACH'), 'host unreachable'],
      [withCode('read ECONNRESET', 'ECONNRESET'), 'connection lost'],
      [withCode('password authentication failed for user "platform_admin"', '28P01'), 'authentication failed'],
      [withCode('database "qanatix_prod_eu" does not exist', '3D000'), 'database does not exist'],
      [withCode('sorry, too many clients already for role "platform_admin"', '53300'), 'too many connections'],
      [withCode('terminating connection due to administrator command', '57P01'), 'server shutting down'],
      [withCode('the database system is starting up', '57P03'), 'server starting up'],
      [new Error('WRONGPASS invalid username-password pair or user is disabled.'), 'authentication failed'],
      [new Error('NOAUTH Authentication required.'), 'authentication failed'],
      [new Error('Connection terminated unexpectedly'), 'connection lost'],
      [new Error('no pg_hba.conf entry for host "10.0.0.7", user "platform_admin", database "qanatix"'), 'check failed'],
      [withCode('SSL error: certificate for db.corp.internal expired', 'ERR_TLS_CERT'), 'check failed'],
      ['a thrown string naming db.corp.internal', 'check failed'],
      [null, 'check failed'],
    ];
    for (const [err, reason] of cases) expect(await probe(failing(err)), String(err)).toBe(`down: ${reason}`);
  });

  test("the probe's own reasons are shown as they are: a timeout and a connection state", async () => {
    expect(await probe(() => new Promise(() => {}), 50)).toBe('down: no answer within 50 ms');
    expect(await probe(failing(new ProbeFailure('connection reconnecting')))).toBe('down: connection reconnecting');
    expect(await probe(() => Promise.resolve(1))).toBe('ok');
  });
});
