import type { Queue } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, PULL_JOB, schedulerId, type PullJobData } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { MIN_SCHEDULE_INTERVAL_SECONDS, resolveSchedule, scheduleProblem } from '../../jobs/schedule';
import { reconcileSchedules } from '../../jobs/schedule-reconciler';
import { bearer, testApi, type TestApi } from '../helpers/api';
import { expectDeclared } from '../helpers/openapi-conformance';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';

/** Schedules no connector may have: empty or odd whitespace, not cron, never firing, random, or every second. */
const NASTY = [
  '',
  ' ',
  '\t',
  '\n',
  ' * * * * *',
  '* * * * * ',
  '*\t* * * *',
  '* * * * *\n',
  '* * * * *\u0000',
  '\u00a0* * * * *',
  '* * * * * * *',
  '60 * * * *',
  '* 24 * * *',
  '* * 32 * *',
  '* * * 13 *',
  '* * * * 8',
  '*/0 * * * *',
  '-1 * * * *',
  '1-0 * * * *',
  '0 0 0 * *',
  '0 0 * 0 *',
  '999999999999999999999 * * * *',
  '* * * * * 2099',
  'every tuesday',
  '@reboot',
  '@every 5m',
  'L',
  '#',
  'W * * * *',
  '* * 1W * *',
  '* * LW * *',
  '* * * * 1#6',
  '0 0 L-3 * *',
  '0 0 30 2 *',
  '0 0 31 4 *',
  '0 0 31 2,4 *',
  '0 0 30,31 2 *',
  '0 0 31 4,6,9,11 *',
  'Hx * * * *',
  'H/0 * * * *',
  'H/61 * * * *',
  'H(5-70) * * * *',
  'H(30-10) * * * *',
  '*/H * * * *',
  '0-H * * * *',
  'h/5 * * * *',
  'H-5 * * * *',
  '0 0 H(29-31) * *',
  'H H H H H H H',
  'H',
  'H/5 * * * * *',
  'H(0-9)/2 * * * * *',
  '* * * * * *',
  '*/1 * * * * *',
  '*/2 * * * * *',
  '*/9 * * * * *',
  '0-59 * * * * *',
  '0,1 * * * * *',
  '0,30,31 * * * * *',
  '59,0 * * * * *',
];

/** Schedules that must keep working, in zones with odd offsets and daylight saving. */
const FINE = [
  '* * * * *',
  '*/10 * * * * *',
  '0,30 * * * * *',
  '*/15 * * * *',
  '0 3 * * *',
  '30 2 * * *',
  '@hourly',
  '@yearly',
  '0 0 29 2 *',
  '0 0 L * *',
  '0 12 * * 1#5',
  '0 0 * * 5L',
  '0 0 30 2 1',
  '0 9 * * MON-FRI',
  '0 0 1 JAN *',
  '? * * * *',
  '*/1000000 * * * *',
];
const ZONES = ['UTC', 'Europe/Berlin', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/Sao_Paulo'];

/** The next time a schedule fires after `from`, as epoch milliseconds, read the way BullMQ reads it. */
const nextFire = (pattern: string, timezone: string, from: Date) =>
  CronExpressionParser.parse(pattern, { tz: timezone, currentDate: from }).next().getTime();

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let key: string;

beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({}, queue);
  key = await t.key('acme', ['connectors']);
});
afterAll(async () => {
  await t.close();
  await queue.close();
  conn.disconnect();
  await redis.stop();
  await source.drop();
});

/** What BullMQ itself makes of a pattern: an error, no scheduler at all, or the scheduler's next run. */
async function bullmq(pattern: string, tz = 'UTC'): Promise<{ error: string } | { next: number | undefined }> {
  const id = `probe-${Math.random().toString(36).slice(2)}`;
  try {
    await queue.upsertJobScheduler(
      id,
      { pattern, tz },
      { name: PULL_JOB, data: { connectorId: id, tenantId: id, mode: 'incremental', trigger: 'schedule' } },
    );
    return { next: (await queue.getJobScheduler(id))?.next };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await queue.removeJobScheduler(id);
  }
}

// Each connector its own entity type: connectors of one entity type need source_ids that cannot collide.
let bodies = 0;
const body = (name: string, extra: Record<string, unknown>) => ({
  name,
  connector_type: 'postgresql',
  connection_config: { dsn: source.url },
  vertical: 'retail',
  entity_type: `product-${++bodies}`,
  table: 'products',
  ...extra,
});
const call = (method: 'POST' | 'PATCH', url: string, payload: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), payload: payload as object });

describe('schedules checked against BullMQ itself', () => {
  test('BullMQ cannot run "" (it throws) nor "0 0 31 2,4 *" (it silently makes no scheduler): both are refused', async () => {
    expect(await bullmq('')).toEqual({ error: expect.stringMatching(/pattern/) });
    expect(await bullmq('0 0 31 2,4 *')).toEqual({ next: undefined });
    expect(scheduleProblem('', 'UTC')).toMatchObject({ field: 'schedule', msg: expect.stringMatching(/empty/) });
    expect(scheduleProblem('0 0 31 2,4 *', 'UTC')).toMatchObject({ field: 'schedule', msg: expect.stringMatching(/never fires/) });
  });

  test.each(NASTY.map((p) => [JSON.stringify(p), p]))(
    '%s is refused with a message, whatever BullMQ would do with it',
    async (_label, pattern) => {
      const problem = scheduleProblem(pattern, 'UTC');
      expect(problem).toMatchObject({ field: 'schedule', msg: expect.any(String) });
      const bull = await bullmq(pattern);
      // Anything BullMQ cannot run is refused above; what it can run is refused for a reason of ours.
      if ('next' in bull && bull.next !== undefined)
        expect(problem!.msg).toMatch(/fires every|cannot be hashed|H stands only|surrounding spaces|printable/);
    },
  );

  const everyZone = FINE.flatMap((p) => ZONES.map((z) => [p, z]));
  test.each(everyZone)('%s in %s is accepted, and BullMQ schedules it in the future, at least 10 s apart', async (pattern, zone) => {
    expect(scheduleProblem(pattern, zone)).toBeNull();
    const bull = await bullmq(pattern, zone);
    expect(bull).toEqual({ next: expect.any(Number) });
    const next = (bull as { next: number }).next;
    expect(next).toBeGreaterThanOrEqual(Date.now() - 1000);
    expect(nextFire(pattern, zone, new Date(next)) - next).toBeGreaterThanOrEqual(MIN_SCHEDULE_INTERVAL_SECONDS * 1000);
  });

  test.each(['', ' UTC', 'local', 'system', 'Z', 'UTC+1', 'Etc/GMT+15', 'Mars/Olympus', '../../etc/passwd'])(
    'time zone %j is refused',
    (zone) => {
      expect(scheduleProblem('0 3 * * *', zone)).toMatchObject({ field: 'timezone' });
    },
  );
});

describe('the API refuses what the reconciler or BullMQ would choke on', () => {
  test('creating a connector with a nasty schedule: 422 at body.schedule, nothing stored, no scheduler', async () => {
    for (const [i, schedule] of NASTY.entries()) {
      const res = await call('POST', '/connectors', body(`nasty-${i}`, { schedule }));
      expect(res.statusCode, JSON.stringify(schedule)).toBe(422);
      expect(res.json().detail).toEqual([expect.objectContaining({ loc: ['body', 'schedule'] })]);
      expectDeclared(t.app, 'POST', '/api/v1/connectors', res);
    }
    expect((await t.db.pool.query('select count(*)::int as n from connectors')).rows[0].n).toBe(0);
    expect(await queue.getJobSchedulers()).toEqual([]);
  });

  test('changing a schedule to a nasty one: 422, the stored schedule and its scheduler stay', async () => {
    const created = await call('POST', '/connectors', body('patched', { schedule: '*/15 * * * *' }));
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    for (const schedule of NASTY) {
      const res = await call('PATCH', `/connectors/${id}`, { schedule });
      expect(res.statusCode, JSON.stringify(schedule)).toBe(422);
      expect(res.json().detail).toEqual([expect.objectContaining({ loc: ['body', 'schedule'] })]);
    }
    const zone = await call('PATCH', `/connectors/${id}`, { timezone: 'Mars/Olympus' });
    expect(zone.json().detail).toEqual([expect.objectContaining({ loc: ['body', 'timezone'] })]);
    const stored = await t.db.pool.query('select schedule, timezone from connectors where id = $1', [id]);
    expect(stored.rows).toEqual([{ schedule: '*/15 * * * *', timezone: 'UTC' }]);
    expect(await queue.getJobScheduler(schedulerId(id))).toMatchObject({ pattern: '*/15 * * * *' });
    await t.db.pool.query('delete from connectors');
    await reconcileSchedules(t.db.pool, queue);
  });

  test('every schedule the API accepts is armed at once, and a reconciler pass over all of them changes nothing', async () => {
    const ids: string[] = [];
    for (const [i, schedule] of FINE.entries()) {
      const res = await call('POST', '/connectors', body(`fine-${i}`, { schedule, timezone: ZONES[i % ZONES.length] }));
      expect(res.statusCode, schedule).toBe(201);
      expectDeclared(t.app, 'POST', '/api/v1/connectors', res);
      ids.push(res.json().id);
    }
    const result = await reconcileSchedules(t.db.pool, queue);
    expect(result).toEqual({ added: [], updated: [], removed: [], rearmed: [], failed: [], missed: [] });
    const schedulers = await queue.getJobSchedulers(0, -1, true);
    expect(schedulers.map((s) => s.key).sort()).toEqual(ids.map((id) => schedulerId(id)).sort());
    for (const s of schedulers) expect(s.next).toBeGreaterThan(Date.now() - 1000);
  });
});

/** Hashed schedules (`H`, as in Jenkins): one stable time per connector, spread across connectors. */
const HASHED = [
  'H/5 * * * *',
  'H * * * *',
  'H H * * *',
  'H(0-29)/10 * * * *',
  'H H(1-5) * * 1-5',
  'H * * * * *',
  'H/15 H * * * *',
  '0 H 1 * *',
];

describe('hashed schedules', () => {
  const ids = Array.from({ length: 1000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);

  test.each(HASHED)('%s resolves to one pattern per connector, always the same, that BullMQ runs at least 10 s apart', async (pattern) => {
    for (const id of ids.slice(0, 50)) {
      const resolved = resolveSchedule(pattern, id);
      expect(resolved).not.toMatch(/H/);
      expect(resolveSchedule(pattern, id)).toBe(resolved);
      expect(scheduleProblem(pattern, 'Asia/Kathmandu', id)).toBeNull();
      const next = CronExpressionParser.parse(resolved, { tz: 'UTC' }).next().getTime();
      expect(nextFire(resolved, 'UTC', new Date(next)) - next).toBeGreaterThanOrEqual(MIN_SCHEDULE_INTERVAL_SECONDS * 1000);
    }
    expect(scheduleProblem(pattern, 'UTC')).toBeNull();
    expect(await bullmq(resolveSchedule(pattern, ids[0]!))).toEqual({ next: expect.any(Number) });
  });

  test('1,000 connectors on "H/5 * * * *" spread over the five minutes, and on "H * * * * *" over the seconds of a minute', () => {
    const minutes = new Map<string, number>();
    for (const id of ids) {
      const offset = resolveSchedule('H/5 * * * *', id).split(' ')[0]!;
      minutes.set(offset, (minutes.get(offset) ?? 0) + 1);
    }
    expect([...minutes.keys()].sort()).toEqual(['0-59/5', '1-59/5', '2-59/5', '3-59/5', '4-59/5']);
    for (const n of minutes.values()) expect(n).toBeGreaterThan(140);
    const seconds = new Set(ids.map((id) => resolveSchedule('H * * * * *', id).split(' ')[0]));
    expect(seconds.size).toBeGreaterThanOrEqual(55);
    expect(new Set(ids.map((id) => resolveSchedule('H(0-29) * * * *', id).split(' ')[0])).size).toBe(30);
  });

  test('the API stores the hashed form and arms the resolved one; a reconciler pass changes nothing', async () => {
    const res = await call('POST', '/connectors', body('hashed', { schedule: 'H/15 * * * *' }));
    expect(res.statusCode).toBe(201);
    const id = res.json().id as string;
    expect(res.json().schedule).toBe('H/15 * * * *');
    const armed = await queue.getJobScheduler(schedulerId(id));
    expect(armed).toMatchObject({ pattern: resolveSchedule('H/15 * * * *', id) });
    expect(armed!.pattern).toMatch(/^\d+-59\/15 \* \* \* \*$/);
    const again = await reconcileSchedules(t.db.pool, queue);
    expect(again.updated).toEqual([]);
    expect(again.added).toEqual([]);
    await t.db.pool.query('delete from connectors');
    await reconcileSchedules(t.db.pool, queue);
  });
});
