import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, PULL_JOB, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis } from '../../../jobs/redis-connection';
import { startWorker } from '../../../jobs/worker';
import { BULL_BOARD_PATH } from '../../../src/api/bull-board';
import { createOperator, revokeOperator } from '../../../src/auth/operator-credentials';
import { TEST_SALT, testApi, type TestApi } from '../../helpers/api';
import { launchChromium } from '../../helpers/browser';
import { saveConnector, testBox } from '../../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let base: string;
let admin: string;
let operator: string;
let failedJobId: string;
let browser: Browser | null = null;

beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({}, queue);
  admin = await t.key('ops', ['admin']);
  operator = (await createOperator(t.db.pool, TEST_SALT, 'oncall')).token;
  failedJobId = (await failedPull()).id;
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  base = address + BULL_BOARD_PATH;
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await queue?.close();
  conn?.disconnect();
  await redis?.stop();
  await source?.drop();
});

/** One failed pull, made by a real worker: the connector reads a table the source does not have. */
async function failedPull(): Promise<{ id: string; reason: string }> {
  const failing = await saveConnector(t.db.pool, 'ops', {
    vertical: 'board',
    connection_config: { dsn: source.url },
    settings: { table: 'missing_table' },
  });
  const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
  try {
    const tenantId = (await t.db.pool.query('select tenant_id from connectors where id = $1', [failing])).rows[0].tenant_id;
    const id = (await queue.add(PULL_JOB, { connectorId: failing, tenantId, mode: 'incremental', trigger: 'manual' })).id!;
    await waitFor('the failed job', async () => (await queue.getJob(id))?.finishedOn && (await queue.getJobState(id)) === 'failed');
    const reason = (await queue.getJob(id))!.failedReason;
    expect(reason).toMatch(/missing_table/);
    return { id, reason };
  } finally {
    await w.close();
  }
}

const basic = (password: string, user = 'oncall') => ({ authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') });

describe('Bull Board at /admin/queues', () => {
  test('needs an operator credential (user name = its operator), by Basic auth or Bearer, for the page, its API, its assets and unknown paths alike', async () => {
    const page = await fetch(base);
    expect(page.status).toBe(401);
    expect(page.headers.get('www-authenticate')).toMatch(/^Basic realm="qanatix"/);
    expect(await page.text()).not.toContain('pulls');

    const paths = [
      '',
      '/',
      '/queue/pulls',
      '/api/queues',
      `/api/queues/pulls/${failedJobId}`,
      '/static/favicon-32x32.png',
      '/no-such-page',
    ];
    for (const p of paths) {
      const res = await fetch(base + p);
      expect({ p, status: res.status }).toEqual({ p, status: 401 });
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    }
    const retryAnon = await fetch(`${base}/api/queues/pulls/${failedJobId}/retry`, { method: 'PUT' });
    expect(retryAnon.status).toBe(401);

    const revoked = await createOperator(t.db.pool, TEST_SALT, 'former');
    await revokeOperator(t.db.pool, revoked.id);
    const wrong: Array<[string, Record<string, string>]> = [
      ['unknown operator token', basic('op_live_' + '0'.repeat(64))],
      ['revoked operator token', basic(revoked.token, 'former')],
      ['not a token', basic('not-a-key')],
      ['bare bearer garbage', { authorization: 'Bearer nope' }],
      ['right token, another user name', basic(operator, 'admin')],
      ['right token, empty user name', basic(operator, '')],
      ['right token, user name in another case', basic(operator, 'ONCALL')],
      ['right token, user name with a space', basic(operator, 'oncall ')],
      ['the token as user name', { authorization: 'Basic ' + Buffer.from(`${operator}:oncall`).toString('base64') }],
      ['no colon', { authorization: 'Basic ' + Buffer.from(operator).toString('base64') }],
    ];
    for (const [what, headers] of wrong) {
      const res = await fetch(base, { headers });
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
    }

    // Tenant keys, even with the admin scope, never open the board.
    for (const key of [admin, await t.key('ops', ['read', 'connectors', 'ingest']), await t.key('other', ['admin'])]) {
      const forbidden = await fetch(base, { headers: basic(key) });
      expect(forbidden.status).toBe(403);
      expect(forbidden.headers.get('www-authenticate')).toBeNull();
      expect((await fetch(`${base}/api/queues`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(403);
      expect((await fetch(`${base}/api/queues/pulls/${failedJobId}/retry`, { method: 'PUT', headers: basic(key) })).status).toBe(403);
    }
    expect(await queue.getJobState(failedJobId)).toBe('failed');

    const ok = await fetch(base, { headers: basic(operator) });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/text\/html/);
    expect(await ok.text()).toContain(`<base href="${BULL_BOARD_PATH}/"`);
    expect((await fetch(base + '/static/favicon-32x32.png', { headers: basic(operator) })).status).toBe(200);
    const api = await fetch(`${base}/api/queues`, { headers: { authorization: `Bearer ${operator}` } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: Array<{ name: string; counts: Record<string, number> }> };
    const failed = await queue.getFailedCount();
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(body.queues).toEqual([expect.objectContaining({ name: 'pulls', counts: expect.objectContaining({ failed }) })]);
    expect((await fetch(base + '/no-such-page/x', { headers: basic(operator) })).status).toBe(404);

    // The board's routes stay out of the API's OpenAPI document.
    const spec = (await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths).filter((p) => p.startsWith(BULL_BOARD_PATH))).toEqual([]);

    // Browsers resend Basic credentials on other sites' form posts: a change from another origin is refused.
    const csrf = await fetch(`${base}/api/queues/pulls/${failedJobId}/retry`, {
      method: 'PUT',
      headers: { ...basic(operator), origin: 'http://evil.example' },
    });
    expect(csrf.status).toBe(403);
    expect(await queue.getJobState(failedJobId)).toBe('failed');
  });

  test('in headless Chromium: the board shows the pulls queue and a failed job with its reason, and retries it', async () => {
    // A failed job of this test's own, so retrying it leaves the other test's job alone (the newest is listed first).
    const own = await failedPull();
    browser = await launchChromium();
    // Without credentials the browser is asked to log in (headless, Playwright cancels the prompt: no page).
    const anonymous = await browser.newContext();
    await expect((await anonymous.newPage()).goto(base)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    await anonymous.close();

    const context = await browser.newContext({
      httpCredentials: { username: 'oncall', password: operator },
      viewport: { width: 1400, height: 1000 },
    });
    // The board links a Google font; this machine's network is closed, so only the server under test is reachable.
    await context.route(
      (url) => url.origin !== new URL(base).origin,
      (route) => route.abort(),
    );
    const page = await context.newPage();
    const response = await page.goto(base);
    expect(response?.status()).toBe(200);

    // The overview: a card for the pulls queue, flagging its failed jobs.
    const main = page.getByRole('main');
    const queueLink = main.getByRole('link', { name: 'pulls', exact: true });
    await queueLink.waitFor({ state: 'visible' });
    const failed = await queue.getFailedCount();
    expect(await main.getByRole('link', { name: `Failed ${failed}`, exact: true }).isVisible()).toBe(true);

    // The queue's failed jobs, reached the way a person would: the queue, then its FAILED tab.
    await queueLink.click();
    await page.waitForURL(/\/queue\/pulls$/);
    await main.getByRole('link', { name: /^failed/i }).click();
    await page.waitForURL(/\/queue\/pulls\?status=failed$/);
    // The whole reason the worker recorded (it names the missing table), shown as text on the page.
    await main.getByText(own.reason).first().waitFor({ state: 'visible' });
    expect(await main.getByText(`#${own.id}`, { exact: true }).isVisible()).toBe(true);

    const shot = join(tmpdir(), `qanatix-bull-board-${process.pid}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`Bull Board screenshot: ${shot}`);

    // Retrying from the board works too (operators only get this far): the job's first action, then the confirmation.
    const retry = main.locator('[class^="jobActions"]').first().getByRole('button').first();
    await retry.hover();
    await page.getByText('Retry', { exact: true }).waitFor({ state: 'visible' });
    await retry.click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await waitFor('the retried job to wait again', async () => ['waiting', 'prioritized'].includes(await queue.getJobState(own.id)));
    expect(await queue.getJobState(failedJobId)).toBe('failed');
  });
});
