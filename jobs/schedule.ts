import { createHash } from 'node:crypto';
import type { RepeatOptions } from 'bullmq';
import { CronExpression, CronExpressionParser, type CronExpressionOptions, type CronFieldCollection } from 'cron-parser';

/** The shortest time between two runs of one connector a schedule may ask for. */
export const MIN_SCHEDULE_INTERVAL_SECONDS = 10;

/** Any `H` that is a field element of its own: `H`, `H/5`, `H(0-29)`, `H(0-29)/10`. */
const HASHED_ELEMENT = /^H(?:\((\d{1,2})-(\d{1,2})\))?(?:\/(\d{1,2}))?$/;
const HAS_H = /(^|[\s,])H/;
/** An H that is not part of a name (THU) after resolving. */
const STRAY_H = /(^|[^A-Z])H($|[^A-Z])/i;

/**
 * The values a hashed element may take in each field: days of the month stop at 28 so that `H` fires every month,
 * as in Jenkins. Five fields are minute to day of week; six start with seconds.
 */
const FIELD_RANGES: Array<{ name: string; min: number; max: number }> = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 28 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 6 },
];

/** A stable number for (connector, field): the same connector always gets the same offsets, other connectors others. */
function hashOf(seed: string, field: number): number {
  return createHash('sha256').update(`${seed}\u0000${field}`).digest().readUInt32BE(0);
}

/**
 * Replaces each hashed element (`H`, `H(a-b)`, `H/n`, `H(a-b)/n`, as in Jenkins) with values picked from a hash of
 * `seed` (the connector's id), so thousands of "every 5 minutes" connectors spread over the 5 minutes and each keeps
 * its own minute for good. Throws an Error naming the element when it cannot be resolved. Patterns without H are
 * returned as they are.
 */
export function resolveSchedule(pattern: string, seed: string): string {
  if (!HAS_H.test(pattern)) return pattern;
  const fields = pattern.split(' ');
  if (fields.length !== 5 && fields.length !== 6)
    throw new Error(`H needs all 5 fields (or 6 with seconds); "${pattern}" has ${fields.length}`);
  const ranges = fields.length === 6 ? FIELD_RANGES : FIELD_RANGES.slice(1);
  return fields
    .map((field, i) =>
      field
        .split(',')
        .map((element) => {
          if (!element.startsWith('H')) return element;
          const { name, min, max } = ranges[i]!;
          const m = HASHED_ELEMENT.exec(element);
          if (!m) throw new Error(`"${element}" in the ${name} field: write H, H/n, H(a-b) or H(a-b)/n`);
          const lo = m[1] === undefined ? min : Number(m[1]);
          const hi = m[2] === undefined ? max : Number(m[2]);
          if (lo < min || hi > max || lo > hi)
            throw new Error(`"${element}": the ${name} range must lie within ${min}-${max}, low to high`);
          const h = hashOf(seed, i + (fields.length === 6 ? 0 : 1));
          if (m[3] === undefined) return String(lo + (h % (hi - lo + 1)));
          const step = Number(m[3]);
          if (step < 1 || step > hi - lo + 1) throw new Error(`"${element}": the step must be between 1 and ${hi - lo + 1}`);
          return `${lo + (h % step)}-${hi}/${step}`;
        })
        .join(','),
    )
    .join(' ');
}

/**
 * Checks a schedule the way BullMQ will use it (cron-parser, 5 fields or 6 with seconds, in an IANA time
 * zone), and also what BullMQ cannot refuse by itself: a pattern that never fires (BullMQ then silently
 * creates no scheduler), or one that fires more often than every MIN_SCHEDULE_INTERVAL_SECONDS. A hashed pattern
 * is checked as it resolves for `seed` (any seed when the connector has no id yet: the rules hold for every offset).
 * Returns the field at fault and a message a user can act on, or null.
 */
export function scheduleProblem(pattern: string, timezone: string, seed = ''): { field: 'schedule' | 'timezone'; msg: string } | null {
  const example = 'e.g. "*/15 * * * *" for every 15 minutes, "H/15 * * * *" for every 15 minutes at a minute of its own, or null';
  const bad = (msg: string) => ({ field: 'schedule' as const, msg });
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    CronExpressionParser.parse('* * * * *', { tz: timezone }).next();
  } catch {
    return { field: 'timezone', msg: `"${timezone}" is not an IANA time zone (e.g. "UTC", "Europe/Berlin")` };
  }
  if (pattern.trim() === '') return bad(`schedule is empty: give a cron pattern (${example})`);
  if (pattern !== pattern.trim() || /[^\x20-\x7e]/.test(pattern)) {
    return bad('schedule must be one line of printable characters without surrounding spaces, fields separated by spaces');
  }
  let resolved: string;
  try {
    resolved = resolveSchedule(pattern, seed);
  } catch (err) {
    return bad(`"${pattern}" cannot be hashed: ${(err as Error).message}`);
  }
  // cron-parser reads any other H (`*/H`, `1-H`) as a random value, new on every parse: BullMQ's fire times would drift.
  if (STRAY_H.test(resolved)) return bad(`"${pattern}": H stands only as a field element of its own (H, H/n, H(a-b), H(a-b)/n)`);
  let fires: number[];
  try {
    const it = CronExpressionParser.parse(resolved, { tz: timezone });
    fires = [it.next().getTime()];
    // Two minutes of fires cover every gap a seconds field can make (its values repeat each minute).
    while (fires.length < 122 && fires[fires.length - 1]! - fires[0]! < 120_000) fires.push(it.next().getTime());
  } catch (err) {
    const message = (err as Error).message;
    if (/loop limit/i.test(message)) return bad(`"${pattern}" never fires (no date matches every field, e.g. 31 February)`);
    return bad(`"${pattern}" is not a cron pattern (${message}); ${example}`);
  }
  const gap = Math.min(...fires.slice(1).map((t, i) => t - fires[i]!));
  if (gap < MIN_SCHEDULE_INTERVAL_SECONDS * 1000) {
    const min = MIN_SCHEDULE_INTERVAL_SECONDS;
    return bad(`"${pattern}" fires every ${gap / 1000} s; a connector may run at most every ${min} s (e.g. "*/${min} * * * * *")`);
  }
  return null;
}

/** The fire times of a (resolved) schedule after `from` and before `to`, at most `limit` of them. */
export function firesBetween(pattern: string, timezone: string, from: number, to: number, limit: number): number[] {
  const it = cronExpression(pattern, { tz: timezone, currentDate: new Date(from) });
  const fires: number[] = [];
  while (fires.length < limit) {
    const t = it.next().getTime();
    if (t >= to) break;
    fires.push(t);
  }
  return fires;
}

/** Parsed cron fields by pattern: parsing is most of what working out the next fire of a schedule costs. */
const parsedPatterns = new Map<string, CronFieldCollection>();
/**
 * About 1.7 KiB each, so at most ~3.4 MiB. Hashed schedules resolve to few distinct patterns (`H/5 * * * *` to 5,
 * `H * * * * *` to 60, `H H * * *` to 1,440); past the bound the oldest is parsed again when next asked for.
 */
const MAX_PARSED_PATTERNS = 2_000;

/** What CronExpressionParser.parse(pattern, options) makes, with the pattern's fields parsed once and kept. */
function cronExpression(pattern: string, options: CronExpressionOptions): CronExpression {
  let fields = parsedPatterns.get(pattern);
  if (!fields) {
    fields = CronExpressionParser.parse(pattern, options).fields;
    if (parsedPatterns.size >= MAX_PARSED_PATTERNS) parsedPatterns.delete(parsedPatterns.keys().next().value!);
    parsedPatterns.set(pattern, fields);
  }
  return new CronExpression(fields, { ...options, expression: pattern });
}

/**
 * BullMQ's default repeat strategy (the time of a job scheduler's next fire after `millis`), with each pattern parsed
 * once instead of on every job a worker takes: the same fire times, so the job ids a queue and a worker make agree.
 */
export function nextFireMillis(millis: number, opts: RepeatOptions): number | undefined {
  const fromMillis = new Date(millis);
  const startDate = opts.startDate && new Date(opts.startDate);
  const currentDate = startDate && startDate > fromMillis ? startDate : fromMillis;
  const expression = cronExpression(opts.pattern!, { ...opts, currentDate });
  try {
    return opts.immediately ? Date.now() : expression.next().getTime();
  } catch {
    return undefined; // past endDate, as BullMQ's own strategy answers
  }
}
