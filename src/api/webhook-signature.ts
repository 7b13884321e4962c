import { createHmac, timingSafeEqual } from 'node:crypto';
import { timestampedDigest } from '../crypto/timestamped-signature';
import type { Queryable } from '../db/pool';
import { HttpError } from './http-error';

/**
 * Webhook signatures. The timestamped scheme signs `<unix seconds>.<raw body>` and sends the seconds in
 * `X-Webhook-Timestamp`: a call outside the tolerance window is refused by its timestamp, and one inside it
 * by its signature, which every API process records in `webhook_signatures`. QANATIX's scheme signs the raw
 * body alone; it proves who wrote the body but not when, so a captured call can be replayed at any later
 * time (rolling data back to what it said): it is accepted only where configured, and never checked for
 * replays, since an identical body sent again on purpose could not be told from one.
 */
export interface WebhookSigning {
  secret: string;
  toleranceSeconds: number;
  acceptBodyOnly: boolean;
}

export type VerifiedSignature = { scheme: 'timestamped'; digest: Buffer; signedAt: number } | { scheme: 'body-only' };

const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;
const TIMESTAMP = /^[0-9]{1,12}$/;
const HOW = 'X-Webhook-Signature: sha256=<hex HMAC-SHA256 with WEBHOOK_SECRET of "<X-Webhook-Timestamp>.<raw body>">';

const unauthorized = (detail: string) => new HttpError(401, detail);
const single = (h: string | string[] | undefined) => (Array.isArray(h) ? h.join(', ') : h);

function matches(secret: string, signed: Buffer[], given: Buffer): boolean {
  const hmac = createHmac('sha256', secret);
  for (const part of signed) hmac.update(part);
  return timingSafeEqual(hmac.digest(), given);
}

/** Checks a call's signature (constant time) and timestamp; throws a 401 that says what to send. */
export function verifyWebhookSignature(
  signing: WebhookSigning,
  raw: Buffer,
  headers: { signature: string | string[] | undefined; timestamp: string | string[] | undefined },
  now = Date.now(),
): VerifiedSignature {
  const signature = single(headers.signature)?.trim();
  const timestamp = single(headers.timestamp)?.trim();
  if (!signature) throw unauthorized(`Missing X-Webhook-Signature header: send ${HOW}.`);
  const match = SIGNATURE.exec(signature);
  const given = match ? Buffer.from(match[1]!, 'hex') : null;

  if (timestamp === undefined) {
    if (!signing.acceptBodyOnly) {
      throw unauthorized(
        `Missing X-Webhook-Timestamp header: this server takes timestamped signatures only; send the Unix time in seconds and ${HOW}.`,
      );
    }
    if (!given || !matches(signing.secret, [raw], given)) {
      throw unauthorized(
        'Invalid webhook signature: it must be sha256=<hex HMAC-SHA256 of the exact raw body with WEBHOOK_SECRET>, or a timestamped one.',
      );
    }
    return { scheme: 'body-only' };
  }
  if (!TIMESTAMP.test(timestamp)) throw unauthorized('X-Webhook-Timestamp must be the Unix time in seconds at which the call was signed.');
  if (!given || !timingSafeEqual(timestampedDigest(signing.secret, timestamp, raw), given)) {
    throw unauthorized(`Invalid webhook signature: send ${HOW}, over the exact bytes sent.`);
  }
  const skew = Math.abs(Math.floor(now / 1000) - Number(timestamp));
  if (skew > signing.toleranceSeconds) {
    const window = `at most ${signing.toleranceSeconds} s are accepted`;
    const what = `X-Webhook-Timestamp is ${skew} s away from the server's clock (${window})`;
    throw unauthorized(`${what}: sign each call when it is sent, and check the sender's clock.`);
  }
  return { scheme: 'timestamped', digest: given, signedAt: Number(timestamp) };
}

/** Records a timestamped signature as used. False when it was used before: the call is a replay. */
export async function claimSignature(db: Queryable, tenantId: string, digest: Buffer, signedAt: number): Promise<boolean> {
  const { rowCount } = await db.query(
    'insert into webhook_signatures (digest, tenant_id, signed_at) values ($1, $2, to_timestamp($3)) on conflict (digest) do nothing',
    [digest, tenantId, signedAt],
  );
  return rowCount === 1;
}

/** Forgets a claimed signature whose call was not ingested, so the sender may retry the same signed call. */
export async function releaseSignature(db: Queryable, digest: Buffer): Promise<void> {
  await db.query('delete from webhook_signatures where digest = $1', [digest]);
}

/** Deletes signatures whose timestamps no longer pass the window anyway (with the same window again as margin). */
export async function forgetOldSignatures(db: Queryable, toleranceSeconds: number, now = Date.now()): Promise<number> {
  const { rowCount } = await db.query('delete from webhook_signatures where signed_at < to_timestamp($1)', [
    now / 1000 - 2 * toleranceSeconds,
  ]);
  return rowCount ?? 0;
}
