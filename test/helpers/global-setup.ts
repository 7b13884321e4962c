import type { TestProject } from 'vitest/node';
import { resolveServices, SERVICES, type ServiceName, type ServiceResolution } from './services';

declare module 'vitest' {
  export interface ProvidedContext {
    services: Record<ServiceName, ServiceResolution>;
  }
}

export default async function setup(project: TestProject) {
  const started = await resolveServices();
  project.provide('services', started.resolutions);
  // Child processes started by tests (crash tests, CLI tests) find the same servers.
  for (const [name, r] of Object.entries(started.resolutions)) {
    if ('url' in r) process.env[SERVICES[name as ServiceName].env] = r.url;
  }
  return () => started.stop();
}
