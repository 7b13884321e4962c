import { describe, expect, test } from 'vitest';
import type { ConfigIssue } from '../../../connectors/config-error';
import { notifyOf, redactUrl } from '../../../connectors/notify-config';
import { deliveryVerdict } from '../../../src/notify/notify-delivery';

function check(value: unknown) {
  const issues: Array<Pick<ConfigIssue, 'loc' | 'msg'>> = [];
  const notify = notifyOf(value, (loc, msg) => issues.push({ loc, msg }));
  return { notify, issues };
}

describe('the notify setting', () => {
  test('absent is none; on defaults to every event; the URL is kept normalised, without its fragment', () => {
    expect(check(undefined)).toEqual({ notify: null, issues: [] });
    expect(check({ url: 'HTTPS://Hooks.Example.com:443/a/../q#frag' })).toEqual({
      notify: { url: 'https://hooks.example.com/q', on: ['failed', 'recovered', 'needs_confirmation'] },
      issues: [],
    });
    // Numeric spellings of an address come out as the address the policy then checks.
    expect(check({ url: 'https://2130706433/' }).notify?.url).toBe('https://127.0.0.1/');
    expect(check({ url: 'https://0x7f.1/' }).notify?.url).toBe('https://127.0.0.1/');
  });

  test('events: unknown ones get the nearest name, repeats and an empty list are refused', () => {
    expect(check({ url: 'https://h.example.com', on: ['failed', 'needs-confirmation'] }).issues).toEqual([
      { loc: ['notify', 'on', '1'], msg: expect.stringContaining('did you mean "needs_confirmation"?') },
    ]);
    expect(check({ url: 'https://h.example.com', on: ['failed', 'failed'] }).issues).toEqual([
      { loc: ['notify', 'on', '1'], msg: 'lists "failed" twice' },
    ]);
    expect(check({ url: 'https://h.example.com', on: [] }).issues[0]!.loc).toEqual(['notify', 'on']);
    expect(check({ url: 'https://h.example.com', on: 'failed' }).issues[0]!.loc).toEqual(['notify', 'on']);
    expect(check({ url: 'https://h.example.com', on: [7] }).issues[0]!.msg).toMatch(/unknown event 7 - use one of/);
  });
});

describe('redactUrl', () => {
  test('userinfo and query are replaced, the rest stays', () => {
    expect(redactUrl('https://u:p%40ss@hooks.example.com:8443/path/x?token=abc&b=2#f')).toBe(
      'https://***@hooks.example.com:8443/path/x?***',
    );
    expect(redactUrl('https://:only-password@hooks.example.com/')).toBe('https://***@hooks.example.com/');
    expect(redactUrl('https://hooks.example.com/plain')).toBe('https://hooks.example.com/plain');
    expect(redactUrl('not a url with a s3cret')).toBe('***REDACTED***');
  });
});

describe('deliveryVerdict', () => {
  test('2xx delivers; 5xx, 408, 429 and no answer retry; redirects and other 4xx give up', () => {
    const verdicts = [200, 201, 204, 299, 500, 502, 503, 408, 429, 300, 301, 302, 307, 400, 401, 403, 404, 410, 422, 100].map((status) => [
      status,
      deliveryVerdict({ status }),
    ]);
    expect(Object.fromEntries(verdicts)).toEqual({
      ...Object.fromEntries([200, 201, 204, 299].map((s) => [s, 'delivered'])),
      ...Object.fromEntries([500, 502, 503, 408, 429].map((s) => [s, 'retry'])),
      ...Object.fromEntries([300, 301, 302, 307, 400, 401, 403, 404, 410, 422, 100].map((s) => [s, 'give_up'])),
    });
    expect(deliveryVerdict({ error: 'ECONNREFUSED', timedOut: false })).toBe('retry');
    expect(deliveryVerdict({ error: 'no answer within 10 s', timedOut: true })).toBe('retry');
  });
});
