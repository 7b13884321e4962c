import { CronExpressionParser } from 'cron-parser';

/**
 * Checks a schedule with the parser BullMQ itself uses (cron-parser, 5 fields or 6 with seconds) and an
 * IANA time zone. Returns a message a user can act on, or null when valid.
 */
export function scheduleProblem(pattern: string, timezone: string): string | null {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    return `"${timezone}" is not an IANA time zone (e.g. "UTC", "Europe/Berlin")`;
  }
  try {
    CronExpressionParser.parse(pattern, { tz: timezone });
  } catch (err) {
    return `"${pattern}" is not a cron expression (${(err as Error).message}); e.g. "*/15 * * * *" for every 15 minutes`;
  }
  return null;
}

/** The next time a schedule fires after `from`, as epoch milliseconds. */
export function nextFire(pattern: string, timezone: string, from = new Date()): number {
  return CronExpressionParser.parse(pattern, { tz: timezone, currentDate: from }).next().getTime();
}
