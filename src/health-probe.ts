/** Resolves 'ok' or a short reason, never waiting longer than `ms`: what /readyz reports for each dependency. */
export async function probe(check: () => Promise<unknown>, ms = 2000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))),
    ]);
    return 'ok';
  } catch (err) {
    return `down: ${(err as Error).message}`;
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
