/** The part of pino the platform logs through. */
export interface Logger {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

/** One JSON line on stderr: for callers that bring no logger (the CLI's one-shot commands, scripts). */
export const stderrLogger: Logger = {
  info: (o, m) => console.error(JSON.stringify({ level: 'info', ...o, msg: m })),
  warn: (o, m) => console.error(JSON.stringify({ level: 'warn', ...o, msg: m })),
  error: (o, m) => console.error(JSON.stringify({ level: 'error', ...o, msg: m })),
};

export interface OutageLog {
  /** An `'error'` event (or a failed attempt): the first of an outage is logged, the rest are counted. */
  down(err: unknown): void;
  /** It works again: logs how long it failed, once. */
  up(): void;
}

/** While an outage lasts, a reminder with the count at most this often. */
const REMINDER_MS = 60_000;

/**
 * Logs the error events of one component (a pool, a Redis client, a queue, a worker) once per outage instead
 * of once per reconnect attempt: a server that is down for a minute would otherwise write thousands of lines.
 * Only the error's message is logged: driver errors may carry a connection string in other fields.
 */
export function outageLog(log: Logger, what: string): OutageLog {
  let since: number | null = null;
  let lastLine = 0;
  let errors = 0;
  return {
    down(err) {
      const message = err instanceof Error ? err.message : String(err);
      const now = Date.now();
      errors++;
      if (since === null) {
        since = lastLine = now;
        errors = 1;
        log.error({ component: what, err: message }, `${what} is failing; it keeps retrying (repeats are counted, not logged)`);
      } else if (now - lastLine >= REMINDER_MS) {
        lastLine = now;
        log.warn({ component: what, err: message, errors, down_ms: now - since }, `${what} is still failing`);
      }
    },
    up() {
      if (since === null) return;
      log.info({ component: what, errors, down_ms: Date.now() - since }, `${what} works again`);
      since = null;
    },
  };
}
