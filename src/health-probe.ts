/**
 * /readyz answers anyone, so a dependency that is down is named by a short fixed reason, never by its driver's
 * message: those carry host names, addresses and user names that an unauthenticated caller has no business seeing.
 */

/** A reason the probe itself words (a timeout, a connection state): safe to show as it is. */
export class ProbeFailure extends Error {}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'host unreachable',
  ECONNRESET: 'connection lost',
  EPIPE: 'connection lost',
  '28P01': 'authentication failed',
  '28000': 'authentication failed',
  '3D000': 'database does not exist',
  '53300': 'too many connections',
  '57P01': 'server shutting down',
  '57P02': 'server shutting down',
  '57P03': 'server starting up',
  NOAUTH: 'authentication failed',
  WRONGPASS: 'authentication failed',
};

/** The fixed words for a failed check: a driver's message is never passed on. */
export function probeReason(err: unknown): string {
  if (err instanceof ProbeFailure) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && REASONS[code]) return REASONS[code];
  // Redis answers errors as text: its first word is the code.
  const word = err instanceof Error ? /^[A-Z]+/.exec(err.message)?.[0] : undefined;
  if (word && REASONS[word]) return REASONS[word];
  if (err instanceof Error && /Connection terminated|Connection is closed/i.test(err.message)) return 'connection lost';
  return 'check failed';
}

/** Resolves 'ok' or `down: <reason>`, never waiting longer than `ms`: what /readyz reports for each dependency. */
export async function probe(check: () => Promise<unknown>, ms = 2000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new ProbeFailure(`no answer within ${ms} ms`)), ms))),
    ]);
    return 'ok';
  } catch (err) {
    return `down: ${probeReason(err)}`;
  } finally {
    clearTimeout(timer);
  }
}

/** The /readyz answer for a set of probe results: 200 when every one is ok, 503 naming the ones that are not. */
export function readiness(checks: Record<string, string>): { status: 200 | 503; body: Record<string, unknown> } {
  const down = Object.entries(checks)
    .filter(([, v]) => v !== 'ok')
    .map(([k]) => k);
  if (down.length) return { status: 503, body: { status: 'unavailable', detail: `${down.join(' and ')} unreachable`, checks } };
  return { status: 200, body: { status: 'ready', checks } };
}
