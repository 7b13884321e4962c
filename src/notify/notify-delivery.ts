/**
 * One attempt at posting a notification: signed, to the checked addresses only, never following a redirect, within a
 * time limit. What the answer means for retrying is the caller's decision (`deliveryVerdict`).
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { timestampedSignature } from '../crypto/timestamped-signature';
import type { NotifyTarget } from './notify-target';

export const SIGNATURE_HEADER = 'X-Qanatix-Signature';
export const TIMESTAMP_HEADER = 'X-Qanatix-Timestamp';

/** The receiver's status code, or why there was none (`timeout`, or the connection's error code). */
export type DeliveryAnswer = { status: number } | { error: string; timedOut: boolean };

/** Posts `body` to the target, signed with `secret` at the current second. Never throws: a failure is an answer. */
export function postNotification(target: NotifyTarget, secret: string, body: string, timeoutMs: number): Promise<DeliveryAnswer> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const client = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answer: DeliveryAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const request = client.request(target.url, {
      method: 'POST',
      agent: false,
      lookup: pinned(target.addresses),
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': 'qanatix-notify',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: timestampedSignature(secret, timestamp, body),
      },
    });
    const timer = setTimeout(() => {
      settle({ error: `no answer within ${timeoutMs / 1000} s`, timedOut: true });
      request.destroy();
    }, timeoutMs);
    request.on('response', (response) => {
      settle({ status: response.statusCode ?? 0 });
      response.resume();
      response.on('error', () => {});
      request.destroy();
    });
    // The error's message may quote the URL: only its code is kept.
    request.on('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? 'connection failed', timedOut: false }));
    request.end(body);
  });
}

/**
 * What an answer means: delivered (2xx), retry (5xx, 408, 429, no answer), or give up (a redirect, which is never
 * followed, and every other 4xx: the receiver refuses this call and will refuse it again).
 */
export function deliveryVerdict(answer: DeliveryAnswer): 'delivered' | 'retry' | 'give_up' {
  if (!('status' in answer)) return 'retry';
  const { status } = answer;
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 500 || status === 408 || status === 429) return 'retry';
  return 'give_up';
}

/** A lookup that answers with the checked addresses whatever it is asked, in both its single and `all` forms. */
function pinned(addresses: readonly string[]): LookupFunction {
  return (_hostname, options, callback) => {
    const list = addresses.map((address) => ({ address, family: isIP(address) }));
    if (list.length === 0) callback(Object.assign(new Error('no checked address'), { code: 'ENOTFOUND' }), '', 4);
    else if (options.all) callback(null, list);
    else callback(null, list[0]!.address, list[0]!.family);
  };
}
