import { UnrecoverableError, type Job } from 'bullmq';
import type pg from 'pg';
import { ConnectorError } from '../connectors/connector-error';
import { redactUrl } from '../connectors/notify-config';
import type { SourcePolicy } from '../connectors/source-policy';
import type { SecretBox } from '../src/crypto/secret-box';
import { notificationsTotal } from '../src/metrics';
import { deliveryVerdict, postNotification, type DeliveryAnswer } from '../src/notify/notify-delivery';
import { checkNotifyTarget, type NotifyTarget } from '../src/notify/notify-target';
import type { Logger } from '../src/outage-log';
import { getRun, type ConnectorRun } from '../src/store/connector-runs';
import { notifyTargetOf } from '../src/store/connectors';
import { addRunEvent } from '../src/store/run-events';
import { getRunNotification, recordNotificationAttempt } from '../src/store/run-notifications';
import type { NotifyJobData } from './notify-queue';

export interface NotifyDeps {
  pool: pg.Pool;
  box: SecretBox;
  log: Logger;
  /** The source policy the URL is checked against again before each attempt. */
  policy: () => Promise<SourcePolicy>;
  /** How long one attempt waits for the receiver's answer. */
  timeoutMs: number;
}

export const NOTIFY_TIMEOUT_MS = 10_000;

/** What a receiver gets (see the README's "Failure notifications"). */
function notificationBody(event: string, connector: { id: string; name: string }, run: ConnectorRun): string {
  const { id, status, mode, trigger, attempts, error, error_kind, rows_read, inserted, updated, unchanged, rejected, deleted } = run;
  const { pending_deletes, queued_at, started_at, finished_at, duration_ms } = run;
  return JSON.stringify({
    event,
    connector,
    run: {
      ...{ id, status, mode, trigger, attempts, error, error_kind },
      ...{ rows_read, inserted, updated, unchanged, rejected, deleted, pending_deletes },
      ...{ queued_at, started_at, finished_at, duration_ms },
    },
    at: new Date().toISOString(),
  });
}

/**
 * Delivers one notification: 2xx delivers it; 5xx, 408, 429 and no answer are retried with the job's backoff; a
 * redirect (never followed), any other 4xx, or a URL the policy now refuses (DNS changed since it was saved) gives up.
 * Every attempt is a run event; a notification delivered or given up is never sent again.
 */
export function createNotifyProcessor(deps: NotifyDeps) {
  const { pool, box, log } = deps;
  return async (job: Job<NotifyJobData>): Promise<{ state: string }> => {
    const { runId, event, connectorId, tenantId } = job.data;
    const ids = { runId: String(runId).slice(0, 100), event: String(event).slice(0, 40), connectorId: String(connectorId).slice(0, 100) };
    const owed = await getRunNotification(pool, job.data);
    if (!owed) {
      log.error({ jobId: job.id, ...ids }, 'notification job refused: it names no notification of that connector of that tenant');
      throw new UnrecoverableError('job refused: no such notification');
    }
    if (owed.state !== 'pending') return { state: owed.state };
    const attempt = job.attemptsMade + 1;
    const last = attempt >= (job.opts.attempts ?? 1);
    const end = async (
      state: 'delivered' | 'failed' | 'pending',
      detail: Record<string, unknown>,
      statusCode: number | null = null,
      outcome = state === 'pending' ? 'retrying' : state,
    ) => {
      await recordNotificationAttempt(pool, runId, event, { state, attempt, statusCode });
      const kind = state === 'delivered' ? 'notification_sent' : 'notification_failed';
      await addRunEvent(pool, runId, kind, {
        event,
        attempt,
        status_code: statusCode,
        ...detail,
        ...(state === 'failed' ? { given_up: true } : {}),
      });
      notificationsTotal.inc({ outcome });
    };

    const connector = await notifyTargetOf(pool, box, tenantId, connectorId);
    const run = await getRun(pool, runId);
    if (!connector || !run || !connector.notify.on.includes(owed.event)) {
      await end('failed', { error: 'the connector no longer asks for this notification' });
      return { state: 'failed' };
    }
    const url = redactUrl(connector.notify.url);
    let target: NotifyTarget;
    try {
      target = await checkNotifyTarget(connector.notify.url, await deps.policy(), true);
    } catch (err) {
      if (!(err instanceof ConnectorError)) throw err;
      // A name that does not resolve now may resolve later; a refused one stays refused.
      const retry = err.kind !== 'denied' && !last;
      await end(retry ? 'pending' : 'failed', { url, error: err.message }, null, err.kind === 'denied' ? 'refused' : undefined);
      log.warn({ ...ids, attempt, url, err: err.message }, retry ? 'notification not sent; will retry' : 'notification given up');
      if (retry) throw new Error(err.message);
      throw new UnrecoverableError(err.message);
    }

    const body = notificationBody(owed.event, { id: connectorId, name: connector.name }, run);
    const answer = await postNotification(target, connector.secret, body, deps.timeoutMs);
    const verdict = deliveryVerdict(answer);
    const status = 'status' in answer ? answer.status : null;
    if (verdict === 'delivered') {
      await end('delivered', { url }, status);
      log.info({ ...ids, attempt, status }, 'notification delivered');
      return { state: 'delivered' };
    }
    const error = describe(answer);
    const giveUp = verdict === 'give_up' || last;
    await end(giveUp ? 'failed' : 'pending', { url, error }, status);
    log.warn({ ...ids, attempt, status, url, err: error }, giveUp ? 'notification given up' : 'notification not delivered; will retry');
    if (giveUp) throw new UnrecoverableError(error);
    throw new Error(error);
  };
}

function describe(answer: DeliveryAnswer): string {
  if (!('status' in answer)) return answer.timedOut ? answer.error : `connection failed (${answer.error})`;
  if (answer.status >= 300 && answer.status < 400) return `the receiver answered ${answer.status}: redirects are not followed`;
  return `the receiver answered ${answer.status}`;
}
