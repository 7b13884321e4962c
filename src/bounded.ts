import type { Logger } from './outage-log';

/**
 * Waits for the closing of `what` at most `ms`; false (and an error line naming it) when it did not finish or failed.
 * A client library can wait forever for a socket event (BullMQ's close of an ioredis Cluster client whose nodes all
 * went away: its disconnect waits for an 'end' that never comes), and a close must not keep anything else waiting.
 */
export async function bounded(step: Promise<unknown>, ms: number, what: string, log: Logger): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    step.then(
      () => 'done',
      (err: Error) => `failed: ${err.message}`,
    ),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`did not finish within ${ms} ms`), ms))),
  ]);
  clearTimeout(timer);
  if (outcome === 'done') return true;
  log.error({ step: what }, `closing ${what} ${outcome}; going on without it`);
  return false;
}
