import { expect } from 'vitest';
import { diagnose, type CheckName, type DoctorCheck, type DoctorOptions, type DoctorReport } from '../../../connectors/doctor';
import { createConnector, validateConnectorConfig } from '../../../connectors/registry';

export interface Diagnosis {
  report: DoctorReport;
  check(name: CheckName): DoctorCheck;
}

/** The doctor's report on a connector definition (validated as the API validates it), read on the real source. */
export async function doctor(definition: Record<string, unknown>, o: Partial<Omit<DoctorOptions, 'definition'>> = {}): Promise<Diagnosis> {
  const def = validateConnectorConfig(definition);
  const connector = await createConnector(def);
  try {
    const report = await diagnose(connector, {
      definition: def,
      cursor: null,
      lastPull: null,
      rowsPerSecond: null,
      checkSeconds: 10,
      ...o,
    });
    return {
      report,
      check(name) {
        const found = report.checks.find((c) => c.name === name);
        expect(found, `no check ${name}`).toBeDefined();
        return found!;
      },
    };
  } finally {
    await connector.close();
  }
}

/** Every check passes (or does not apply), with no fix to give. */
export function expectAllPass(d: Diagnosis, notApplicable: CheckName[] = []): void {
  for (const c of d.report.checks) {
    expect({ name: c.name, verdict: c.verdict, fix: c.fix }, c.detail).toEqual({
      name: c.name,
      verdict: notApplicable.includes(c.name) ? 'skipped' : 'ok',
      fix: null,
    });
  }
  expect(d.report.verdict).toBe('ok');
}
