import { ApiClient, EXIT, findConnector } from './api-client';

export interface DoctorReport {
  verdict: 'ok' | 'warn' | 'fail';
  source_now: string;
  checks: Array<{ name: string; verdict: 'ok' | 'warn' | 'fail' | 'skipped'; detail: string; fix: string | null }>;
}

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skipped: 'skip' } as const;

/** `qanatix connectors doctor NAME`: every check with its verdict and fix; exit 6 when a check fails (warnings pass). */
export async function doctorCommand(api: ApiClient, ref: string, json: boolean): Promise<number> {
  const c = await findConnector(api, ref);
  const report = await api.ok<DoctorReport>('GET', `/connectors/${c.id}/doctor`);
  if (json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(`doctor: ${c.name} (source clock ${report.source_now})`);
    for (const check of report.checks) {
      console.log(`${MARK[check.verdict]}  ${check.name}: ${check.detail}`);
      if (check.fix) console.log(`      fix: ${check.fix}`);
    }
    const n = (v: string) => report.checks.filter((check) => check.verdict === v).length;
    console.log(`${report.verdict}: ${n('ok')} ok, ${n('warn')} to look at, ${n('fail')} failed, ${n('skipped')} skipped`);
  }
  return report.verdict === 'fail' ? EXIT.doctorFailed : EXIT.ok;
}
