/**
 * Field checks shared by the per-source `connection_config` validators: DSNs, host parts, TLS options.
 * Each check reports through an `IssueReporter` and returns the normalised value (or undefined).
 */
import { ProblemType } from '../src/problem-types';
import type { IssueReporter } from './config-error';
import { isHostName } from './source-rules';

export type PlainObject = Record<string, unknown>;

/** TLS settings, normalised; `null` means a plain connection. */
export interface TlsOptions {
  /** Verify the server certificate against `ca` or the system store (default true). */
  reject_unauthorized: boolean;
  /** PEM CA bundle, client certificate and key, server name for SNI/verification. */
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Reports every key of `obj` not in `allowed`. */
export function rejectUnknownKeys(obj: PlainObject, allowed: readonly string[], report: IssueReporter, loc: string[] = []): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const near = nearest(key, allowed);
    const hint = near ? `did you mean "${near}"? (fields: ${allowed.join(', ')})` : `expected one of ${allowed.join(', ')}`;
    report([...loc, key], `unknown field - ${hint}`, ProblemType.unknownSetting);
  }
}

/** The known name a typo most likely meant: the closest by edit distance, when it is close enough to be a typo. */
export function nearest(word: string, known: readonly string[]): string | null {
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(w, k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== null && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : null;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours each cost 1. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

export function optionalString(obj: PlainObject, key: string, report: IssueReporter, loc: string[] = []): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    report([...loc, key], 'must be a non-empty string', ProblemType.settingType);
    return undefined;
  }
  return value;
}

export function requiredString(obj: PlainObject, key: string, report: IssueReporter, loc: string[] = []): string | undefined {
  if (obj[key] === undefined || obj[key] === null) {
    report([...loc, key], 'is required', ProblemType.settingMissing);
    return undefined;
  }
  return optionalString(obj, key, report, loc);
}

export function optionalPort(obj: PlainObject, key: string, report: IssueReporter, fallback: number): number {
  const value = obj[key];
  if (value === undefined || value === null) return fallback;
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    report([key], 'must be a port number between 1 and 65535', ProblemType.settingValue);
    return fallback;
  }
  return port;
}

export function optionalSeconds(obj: PlainObject, key: string, report: IssueReporter, fallback: number, max = 3600): number {
  const value = obj[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    report([key], `must be a number of seconds between 0 and ${max}`, ProblemType.settingValue);
    return fallback;
  }
  return value;
}

/**
 * A connection URL with one of `schemes`. The message never repeats the value: it may hold a password.
 */
export function parseDsn(value: unknown, schemes: readonly string[], report: IssueReporter, loc: string[] = ['dsn']): URL | undefined {
  if (typeof value !== 'string' || value.trim() === '') {
    report(loc, `must be a connection URL such as ${schemes[0]}://user:password@host:port/database`, ProblemType.settingType);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    report(loc, `is not a valid URL - expected ${schemes[0]}://user:password@host:port/database`, ProblemType.settingValue);
    return undefined;
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!schemes.includes(scheme)) {
    report(loc, `must start with ${schemes.map((s) => `${s}://`).join(' or ')}`, ProblemType.settingValue);
    return undefined;
  }
  if (!url.hostname) {
    report(loc, 'must name a host', ProblemType.settingValue);
    return undefined;
  }
  return url;
}

/**
 * The host of a connection URL without IPv6 brackets, when it is a DNS name or an IP address. Anything else is
 * reported, never connected to: a path (a unix socket), a list, a percent-encoded name (drivers disagree on
 * decoding it).
 */
export function urlHost(url: URL, report: IssueReporter, loc: string[]): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!isHostName(host)) {
    report(
      loc,
      'must name the server by DNS name or IP address (unix sockets and encoded host names are not accepted)',
      ProblemType.settingValue,
    );
    return undefined;
  }
  return host;
}

/** `decodeURIComponent`, or undefined for text that is not percent-encoded correctly. */
export function decodeComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Reports each connection option not in `allowed`, by name, with the hint that applies to it (`hints`: option
 * names → what to write instead) or else the list of options that are read. Option values are never echoed.
 */
export function refuseOptions(
  names: Iterable<string>,
  allowed: readonly string[],
  hints: ReadonlyArray<readonly [readonly string[], string]>,
  report: IssueReporter,
  loc: string[],
  caseless = false,
): void {
  const key = (name: string) => (caseless ? name.toLowerCase() : name);
  const allowedKeys = new Set(allowed.map(key));
  for (const name of new Set(names)) {
    if (allowedKeys.has(key(name))) continue;
    const hint = hints.find(([options]) => options.some((o) => key(o) === key(name)))?.[1];
    const accepted = allowed.length ? `the options read here are ${allowed.join(', ')}` : 'no options are read here';
    report(loc, `option "${name}" is not accepted - ${hint ?? accepted}`, ProblemType.settingValue);
  }
}

/** What to write instead of an option that names a file on the server: file paths are never read. */
export const INLINE_CERTIFICATES = 'give certificates inline in connection_config.ssl (ca, cert, key): files on the server are never read';

/** `ssl`: `true`, `false`, or `{ reject_unauthorized?, ca?, cert?, key?, servername? }`. */
export function parseTls(value: unknown, report: IssueReporter, loc: string[] = ['ssl']): TlsOptions | null {
  if (value === undefined || value === null || value === false) return null;
  if (value === true) return { reject_unauthorized: true };
  if (!isPlainObject(value)) {
    report(loc, 'must be true, false or an object with reject_unauthorized, ca, cert, key, servername', ProblemType.settingType);
    return null;
  }
  rejectUnknownKeys(value, ['reject_unauthorized', 'ca', 'cert', 'key', 'servername'], report, loc);
  const tls: TlsOptions = { reject_unauthorized: true };
  if (value.reject_unauthorized !== undefined) {
    if (typeof value.reject_unauthorized !== 'boolean')
      report([...loc, 'reject_unauthorized'], 'must be true or false', ProblemType.settingType);
    else tls.reject_unauthorized = value.reject_unauthorized;
  }
  for (const key of ['ca', 'cert', 'key', 'servername'] as const) {
    const text = optionalString(value, key, report, loc);
    if (text !== undefined) tls[key] = text;
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    report(loc, 'cert and key go together - give both or neither', ProblemType.settingConflict);
  }
  return tls;
}

/** Node `tls.connect` options for a driver's `ssl` setting. */
export function nodeTlsOptions(tls: TlsOptions): {
  rejectUnauthorized: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
} {
  const out: { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string; servername?: string } = {
    rejectUnauthorized: tls.reject_unauthorized,
  };
  if (tls.ca !== undefined) out.ca = tls.ca;
  if (tls.cert !== undefined) out.cert = tls.cert;
  if (tls.key !== undefined) out.key = tls.key;
  if (tls.servername !== undefined) out.servername = tls.servername;
  return out;
}
