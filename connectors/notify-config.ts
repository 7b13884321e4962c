/**
 * A connector's `notify` setting: where a signed call goes when a run fails, recovers or waits for confirmation.
 * Checked here for its shape (an http(s) URL naming a host, known events); whether the host may be reached is the
 * source policy's question, asked when the connector is saved and again before each delivery (src/notify).
 */
import { ProblemType } from '../src/problem-types';
import type { IssueReporter } from './config-error';
import { isPlainObject, nearest, rejectUnknownKeys } from './connection-checks';
import { isHostName } from './source-rules';

export const NOTIFY_EVENTS = ['failed', 'recovered', 'needs_confirmation'] as const;

/**
 * `failed`: a run ended failed after its last attempt. `recovered`: the first run to succeed after one or more failed
 * runs. `needs_confirmation`: a sweep the guard stopped.
 */
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export interface NotifyConfig {
  /** Normalised (`new URL().href`); may hold credentials in its userinfo or query: never log or show it (see `redactUrl`). */
  url: string;
  on: NotifyEvent[];
}

const MAX_URL_LENGTH = 2048;

/** Validates `notify`; null when it is absent (no notifications). */
export function notifyOf(value: unknown, report: IssueReporter): NotifyConfig | null {
  if (value === undefined || value === null) return null;
  if (!isPlainObject(value)) {
    report(['notify'], 'must be an object such as {"url": "https://hooks.example.com/qanatix"}, or null', ProblemType.settingType);
    return null;
  }
  rejectUnknownKeys(value, ['url', 'on'], report, ['notify']);
  const url = notifyUrlOf(value.url, report);
  const on = eventsOf(value.on, report);
  return url !== null && on !== null ? { url, on } : null;
}

function notifyUrlOf(value: unknown, report: IssueReporter): string | null {
  const loc = ['notify', 'url'];
  if (value === undefined || value === null) {
    report(loc, 'is required - the https:// address the signed calls are posted to', ProblemType.settingMissing);
    return null;
  }
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_URL_LENGTH) {
    report(loc, `must be an https:// URL of at most ${MAX_URL_LENGTH} characters`, ProblemType.settingType);
    return null;
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    report(loc, 'is not a URL - write it like https://hooks.example.com/qanatix', ProblemType.settingValue);
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    report(loc, `must be an https:// URL, not ${url.protocol}`, ProblemType.settingValue);
    return null;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host || !isHostName(host)) {
    report(loc, 'must name a host (a DNS name or an IP address)', ProblemType.settingValue);
    return null;
  }
  url.hash = '';
  return url.href;
}

function eventsOf(value: unknown, report: IssueReporter): NotifyEvent[] | null {
  const loc = ['notify', 'on'];
  if (value === undefined || value === null) return [...NOTIFY_EVENTS];
  const known = NOTIFY_EVENTS.join(', ');
  if (!Array.isArray(value) || value.length === 0) {
    report(loc, `must be a non-empty list of events: ${known} (default: all)`, ProblemType.settingType);
    return null;
  }
  const events: NotifyEvent[] = [];
  for (const [i, event] of value.entries()) {
    if (typeof event === 'string' && (NOTIFY_EVENTS as readonly string[]).includes(event)) {
      if (events.includes(event as NotifyEvent)) report([...loc, String(i)], `lists "${event}" twice`, ProblemType.settingValue);
      else events.push(event as NotifyEvent);
      continue;
    }
    const near = typeof event === 'string' ? nearest(event, NOTIFY_EVENTS) : null;
    const hint = near ? `did you mean "${near}"? (events: ${known})` : `use one of ${known}`;
    report([...loc, String(i)], `unknown event ${JSON.stringify(event)} - ${hint}`, ProblemType.settingValue);
  }
  return events.length === value.length ? events : null;
}

/** A notify URL as it may be shown or logged: its userinfo and query (where credentials live) replaced. */
export function redactUrl(href: string): string {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return '***REDACTED***';
  }
  if (url.username || url.password) {
    url.username = '***';
    url.password = '';
  }
  if (url.search) url.search = '***';
  url.hash = '';
  return url.href;
}
