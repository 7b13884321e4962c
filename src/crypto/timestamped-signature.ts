import { createHmac, randomBytes } from 'node:crypto';

/**
 * The one signature format of both directions: webhooks posted to us (`X-Webhook-Signature`) and notifications we
 * post (`X-Qanatix-Signature`) carry `sha256=<hex HMAC-SHA256 of "<unix seconds>.<raw body>">`, the seconds in a
 * timestamp header of their own, so a receiver refuses old calls by their timestamp and forged ones by their digest.
 */
export function timestampedDigest(secret: string, timestamp: string, body: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The signature header's value for a call signed at `timestamp` (unix seconds). */
export function timestampedSignature(secret: string, timestamp: string, body: Buffer | string): string {
  return `sha256=${timestampedDigest(secret, timestamp, body).toString('hex')}`;
}

/** A new signing secret for a connector's notifications. */
export function newSigningSecret(): string {
  return `qnsec_${randomBytes(32).toString('hex')}`;
}
