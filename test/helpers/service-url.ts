import { inject } from 'vitest';
import type { ServiceName } from './services';

/** The URL of a real service, or an error that says how to start it. */
export function serviceUrl(name: ServiceName): string {
  const r = inject('services')[name];
  if ('error' in r) throw new Error(r.error);
  return r.url;
}
