import { CronExpressionParser } from 'cron-parser';

/** The shortest time between two runs of one connector a schedule may ask for. */
export const MIN_SCHEDULE_INTERVAL_SECONDS = 10;

/** Hashed fields (`H`, `H/5`, `H(0-29)`) pick a random value on every parse, so BullMQ's fire times would drift. */
const HASHED_FIELD = /(^|[\s,])H(?=$|[\s,/(])/;

/**
 * Checks a schedule the way BullMQ will use it (cron-parser, 5 fields or 6 with seconds, in an IANA time
 * zone), and also what BullMQ cannot refuse by itself: a pattern that never fires (BullMQ then silently
 * creates no scheduler), one that picks random times, or one that fires more often than every
 * MIN_SCHEDULE_INTERVAL_SECONDS. Returns the field at fault and a message a user can act on, or null.
 */
export function scheduleProblem(pattern: string, timezone: string): { field: 'schedule' | 'timezone'; msg: string } | null {
  const example = 'e.g. "*/15 * * * *" for every 15 minutes, or null for no schedule';
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
  if (HASHED_FIELD.test(pattern)) return bad(`"${pattern}" uses H (a random value on every parse); write the minute or hour explicitly`);
  let fires: number[];
  try {
    const it = CronExpressionParser.parse(pattern, { tz: timezone });
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
