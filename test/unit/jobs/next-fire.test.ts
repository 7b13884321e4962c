import { defaultRepeatStrategy, type RepeatOptions } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { CronExpressionParser } from 'cron-parser';
import { firesBetween, nextFireMillis, resolveSchedule } from '../../../jobs/schedule';

// The worker works out each scheduler's next fire with nextFireMillis, a queue (the reconciler) with BullMQ's own
// strategy: any difference would give one fire two job ids, and two runs.
const PATTERNS = [
  '* * * * *',
  '*/5 * * * *',
  '0 * * * *',
  '30 2 * * *',
  '15 3 * * 1-5',
  '0 0 1 * *',
  '0 12 L * *',
  '0 9 * * MON#2',
  '0 0 29 2 *',
  '*/10 * * * * *',
  '7,37 * * * * *',
  '0 30 1-3 * * SUN',
  '@hourly',
  '@daily',
  resolveSchedule('H * * * * *', '6f1c1a52-0c77-4b54-9d7b-3f9e2e3c1a01'),
  resolveSchedule('H/15 H(1-4) * * *', '0b9a8e9e-61d4-4f3c-8c2b-6f4b0b1f5e77'),
  resolveSchedule('H H * * H', 'ad0f3c2e-2f0c-4a6e-9a57-63b0d0c9d7a4'),
];
const ZONES = [undefined, 'UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Pacific/Chatham'];
// Around the spring and autumn changes of clocks in Europe, America and Australia, a leap day, and a year's end.
const INSTANTS = [
  '2026-03-29T00:59:30Z',
  '2026-03-29T01:00:00Z',
  '2026-10-25T00:30:00.500Z',
  '2026-03-08T06:59:59Z',
  '2026-11-01T05:30:00Z',
  '2026-04-04T15:00:00Z',
  '2028-02-28T23:59:59.999Z',
  '2026-12-31T23:59:00Z',
  '2026-11-30T05:00:00Z',
].map((t) => Date.parse(t));

describe("a scheduler's next fire", () => {
  it('is the time BullMQ itself computes, for every pattern, zone and instant, asked once or many times', () => {
    const ours: Array<number | undefined> = [];
    const bullmq: Array<number | undefined> = [];
    const asked: string[] = [];
    for (let round = 0; round < 2; round++)
      for (const pattern of PATTERNS)
        for (const tz of ZONES)
          for (const at of INSTANTS)
            for (const millis of [at, at + 59_999]) {
              const opts: RepeatOptions = { pattern, ...(tz ? { tz } : {}) };
              ours.push(nextFireMillis(millis, opts));
              bullmq.push(defaultRepeatStrategy(millis, opts));
              asked.push(`${pattern} in ${tz} after ${new Date(millis).toISOString()}`);
            }
    const differ = asked.filter((_, i) => ours[i] !== bullmq[i]);
    expect(differ).toEqual([]);
    expect(ours.length).toBe(2 * PATTERNS.length * ZONES.length * INSTANTS.length * 2);
    expect(ours.every((t) => typeof t === 'number')).toBe(true);
  }, 30_000);

  it('honours a start date, an end date and "immediately" as BullMQ does', () => {
    const at = Date.parse('2026-06-01T10:00:20Z');
    const cases: RepeatOptions[] = [
      { pattern: '*/5 * * * *', startDate: '2026-06-01T12:03:00Z' },
      { pattern: '*/5 * * * *', startDate: Date.parse('2026-05-01T00:00:00Z') },
      { pattern: '*/5 * * * *', endDate: '2026-06-01T10:00:30Z' },
      { pattern: '*/5 * * * *', endDate: Date.parse('2027-01-01T00:00:00Z') },
      { pattern: '0 3 * * *', tz: 'Europe/Berlin', startDate: new Date('2026-10-24T00:00:00Z') },
    ];
    for (const opts of cases) expect(nextFireMillis(at, opts), JSON.stringify(opts)).toBe(defaultRepeatStrategy(at, opts));
    expect(nextFireMillis(at, { pattern: '*/5 * * * *', endDate: '2026-06-01T10:00:30Z' })).toBeUndefined();
    const before = Date.now();
    expect(nextFireMillis(at, { pattern: '0 0 1 1 *', immediately: true })).toBeGreaterThanOrEqual(before);
  });

  it('gives the same answers after more patterns than it keeps have been asked for', () => {
    const at = Date.parse('2026-11-30T05:00:00.250Z');
    const patterns = Array.from({ length: 2_500 }, (_, i) => `${i % 60} ${Math.floor(i / 60) % 60} ${Math.floor(i / 3600)} * * *`);
    const differ = [...patterns, ...patterns.slice(0, 100)].filter(
      (pattern) => nextFireMillis(at, { pattern, tz: 'Europe/Berlin' }) !== defaultRepeatStrategy(at, { pattern, tz: 'Europe/Berlin' }),
    );
    expect(differ).toEqual([]);
  }, 30_000);

  it('refuses what BullMQ refuses', () => {
    for (const pattern of ['61 * * * *', 'not a pattern', '* * * * * * *']) {
      expect(() => defaultRepeatStrategy(0, { pattern })).toThrow();
      expect(() => nextFireMillis(0, { pattern })).toThrow();
    }
  });

  it('expands into the fires cron-parser lists, for the missed-fire check', () => {
    const from = Date.parse('2026-03-28T22:00:00Z');
    const to = from + 2 * 86_400_000;
    for (const pattern of PATTERNS)
      for (const tz of ['UTC', 'Europe/Berlin', 'Australia/Lord_Howe']) {
        const expand = () => {
          const it = CronExpressionParser.parse(pattern, { tz, currentDate: new Date(from) });
          const fires: number[] = [];
          for (let t = it.next().getTime(); t < to && fires.length < 500; t = it.next().getTime()) fires.push(t);
          return fires;
        };
        // A pattern whose next fire is years away (29 February) makes cron-parser give up: both must.
        const outcome = (f: () => number[]) => {
          try {
            return f();
          } catch (err) {
            return (err as Error).message;
          }
        };
        expect(
          outcome(() => firesBetween(pattern, tz, from, to, 500)),
          `${pattern} in ${tz}`,
        ).toEqual(outcome(expand));
      }
  }, 30_000);
});
