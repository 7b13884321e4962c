/**
 * The connector doctor: each source's measurements (DoctorProbes in contract.ts) turned into checks with a verdict, what was
 * found and what to do, in the same words for every source. Every check has its own time budget; one that runs out
 * is `skipped`, never a reason to stop the others.
 */
import type { Cursor, CursorScalar, ReadPlan, SourceConnector } from './contract';
import type { ConnectorDefinition } from './connector-definition';
import { ConnectorError } from './connector-error';
import type { DoctorProbes, DoctorShape } from './contract';
import { isoToMicros, isIsoTimestamp } from './iso-time';
import { effectiveLagSeconds } from './read-window';

export type Verdict = 'ok' | 'warn' | 'fail' | 'skipped';

export type CheckName =
  'cursor_index' | 'equal_cursor_run' | 'null_cursors' | 'future_cursors' | 'held_back' | 'privileges' | 'resync_estimate';

export interface DoctorCheck {
  name: CheckName;
  verdict: Verdict;
  /** What was found, with the figures. */
  detail: string;
  /** What to do about it; null when nothing needs doing. */
  fix: string | null;
}

export interface DoctorReport {
  /** The worst verdict of the checks (`skipped` counts as `ok`). */
  verdict: 'ok' | 'warn' | 'fail';
  /** The source clock when the checks started. */
  source_now: string;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  definition: ConnectorDefinition;
  /** The committed position and last pull: the checks look at what the next incremental run would read. */
  cursor: Cursor | null;
  lastPull: string | null;
  /** Rows per second of this connector's past runs; null before its first run that read rows. */
  rowsPerSecond: number | null;
  /** Each check's budget. */
  checkSeconds: number;
}

/** Counts stop here: past it the advice is the same, and the source reads no further. */
export const COUNT_CAP = 100_000;
/** Held-back rows are counted as runs count them (src/store/pull-progress.ts): one column, at most this many rows. */
const HELD_BACK_CAP = 10_000;

/** The checks, in order. A connector error before any check (no connection, a bad config) is thrown. */
export async function diagnose(connector: SourceConnector, o: DoctorOptions): Promise<DoctorReport> {
  if (!connector.doctor) throw new ConnectorError('config', 'this source type has no doctor');
  const now = await connector.clock();
  const plan: ReadPlan = { mode: 'incremental', cursor: o.cursor, now, lastPull: o.lastPull, batchSize: o.definition.batch_size };
  await connector.describe(plan);
  const probes = await connector.doctor(plan, Math.ceil(o.checkSeconds * 1000));
  const checks: DoctorCheck[] = [];
  for (const [name, check] of CHECKS) checks.push(await withinBudget(name, o.checkSeconds, () => check(probes, o, now)));
  const verdict = checks.some((c) => c.verdict === 'fail') ? 'fail' : checks.some((c) => c.verdict === 'warn') ? 'warn' : 'ok';
  return { verdict, source_now: now, checks };
}

type Check = (probes: DoctorProbes, o: DoctorOptions, now: string) => Promise<Omit<DoctorCheck, 'name'>>;

const ok = (detail: string) => ({ verdict: 'ok' as const, detail, fix: null });
const skipped = (detail: string) => ({ verdict: 'skipped' as const, detail, fix: null });
const NO_CURSOR = 'no cursor column: every run reads the whole source';

/** The sources' own "statement timed out" codes: PostgreSQL, MariaDB, MySQL, MongoDB, Neo4j. */
const SERVER_TIMEOUTS = new Set([
  '57014',
  'ER_STATEMENT_TIMEOUT',
  'ER_QUERY_TIMEOUT',
  '50',
  'MaxTimeMSExpired',
  'Neo.ClientError.Transaction.TransactionTimedOut',
  'Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration',
]);

async function withinBudget(name: CheckName, seconds: number, check: () => Promise<Omit<DoctorCheck, 'name'>>): Promise<DoctorCheck> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), seconds * 1000)));
  const running = check();
  try {
    const result = await Promise.race([running, timedOut]);
    if (result === 'timeout') {
      running.catch(() => {});
      return { name, ...skipped(`timed out after ${seconds} s`) };
    }
    return { name, ...result };
  } catch (err) {
    if (err instanceof ConnectorError && SERVER_TIMEOUTS.has(String(err.code))) return { name, ...skipped(`timed out after ${seconds} s`) };
    if (err instanceof ConnectorError) return { name, ...skipped(`the source could not answer (${err.kind}): ${err.message}`) };
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const orderText = (shape: DoctorShape) => `(${(shape.order ?? []).join(', ')})`;

const cursorIndex: Check = async (probes) => {
  const { shape } = probes;
  if (!shape.cursor) return skipped(`${NO_CURSOR}; there is no order to serve`);
  if (!shape.order) {
    return {
      verdict: 'fail',
      detail: `${shape.label} has no key, so rows sharing a "${shape.cursor.name}" value cannot be paged: incremental runs are refused`,
      fix: 'set cursor.tiebreaker (or primary_key) to the column(s) that identify a row',
    };
  }
  const found = await probes.orderIndex();
  if (found === null) {
    return skipped(
      `a query's result has no index of its own: index the table it reads on ${orderText(shape)} so each page is a range scan`,
    );
  }
  if (found.index !== null) return ok(`index "${found.index}" serves the ${orderText(shape)} order each page reads in`);
  return {
    verdict: 'warn',
    detail: `no index of ${shape.label} serves the ${orderText(shape)} order: every page sorts the rows after the committed cursor`,
    fix: found.create,
  };
};

const equalCursorRun: Check = async (probes, o) => {
  const { shape } = probes;
  const cursor = shape.cursor;
  if (!cursor) return skipped(NO_CURSOR);
  const run = await probes.largestRun();
  if (run === null) return ok(`no row has a "${cursor.name}" value yet`);
  const batch = o.definition.batch_size;
  if (run.rows === 1) return ok(`every "${cursor.name}" value is held by one row only (batch_size ${batch})`);
  const detail = `the largest run of equal cursor values: ${run.rows} rows share "${cursor.name}" = ${JSON.stringify(run.value)} (batch_size ${batch})`;
  if (!shape.order && run.rows > 1) {
    return {
      verdict: 'fail',
      detail: `${detail}, and ${shape.label} has no key to page through them`,
      fix: `set cursor.tiebreaker to the column(s) that identify a row, so rows sharing "${cursor.name}" page by (${cursor.name}, key)`,
    };
  }
  if (run.rows <= batch) return ok(`${detail}: one batch holds it`);
  return {
    verdict: 'warn',
    detail: `${detail}: pages inside it go by the tie-breaker (${(shape.order ?? []).slice(1).join(', ') || cursor.name})`,
    fix:
      `keep an index on ${orderText(shape)} so each page inside the run is a range scan, or raise batch_size above ${run.rows}; ` +
      `a "${cursor.name}" written with finer precision (or set per row, not per bulk update) makes such runs shorter`,
  };
};

const nullCursors: Check = async (probes, o) => {
  const cursor = probes.shape.cursor;
  if (!cursor) return skipped(NO_CURSOR);
  const rows = await probes.nullCursors(COUNT_CAP);
  if (rows === 0) return ok(`no row has a NULL "${cursor.name}"`);
  const count = counted(rows, COUNT_CAP);
  const initial = o.definition.cursor?.initial_value ?? null;
  const what =
    initial !== null
      ? 'never reads them (cursor.initial_value starts after them)'
      : 'reads them once, first and in key order, in a run that starts from the beginning (the first run or a full resync); ' +
        'incremental runs after that see neither them nor their changes';
  return {
    verdict: 'warn',
    detail: `${count} of ${probes.shape.label} ${rows === 1 ? 'has' : 'have'} a NULL "${cursor.name}": the connector ${what}`,
    fix: `give "${cursor.name}" a value on every row (fill the NULLs, then make it NOT NULL with a default), or run a full resync after they change`,
  };
};

const futureCursors: Check = async (probes, _o, now) => {
  const cursor = probes.shape.cursor;
  if (!cursor) return skipped(NO_CURSOR);
  if (cursor.temporal !== true)
    return skipped(`"${cursor.name}" is ${cursor.type}, not a point in time: there is no clock to compare with`);
  const found = await probes.futureCursors(now, COUNT_CAP);
  if (found.rows === 0) return ok(`no "${cursor.name}" is later than the source clock (${now})`);
  const count = counted(found.rows, COUNT_CAP);
  const ahead = secondsBetween(now, found.latest);
  return {
    verdict: 'warn',
    detail:
      `${count} ${found.rows === 1 ? 'has' : 'have'} "${cursor.name}" later than the source clock (${now}); the latest is ${JSON.stringify(found.latest)}` +
      `${ahead !== null ? `, ${ahead} s ahead` : ''}: ${found.rows === 1 ? 'it waits until the clock passes it' : 'they wait until the clock passes them'} ` +
      '(less the lag), and rows written meanwhile ' +
      'with a correct time are read before them',
    fix:
      `write "${cursor.name}" from the source database's clock (a column default or trigger), or fix the writer's clock or time zone ` +
      '(a local time stored as UTC is hours ahead)',
  };
};

const heldBack: Check = async (probes, o) => {
  const cursor = probes.shape.cursor;
  if (!cursor) return skipped(NO_CURSOR);
  if (cursor.temporal !== true) return skipped(`"${cursor.name}" is ${cursor.type}: no lag window applies`);
  const lag = effectiveLagSeconds(o.definition.cursor);
  const held = await probes.heldBack(HELD_BACK_CAP);
  if (held === null || held.rows === 0) return ok(`no row is inside the lag window (${lag} s)`);
  const count = counted(held.rows, HELD_BACK_CAP);
  return {
    verdict: 'warn',
    detail:
      `${count} changed within the lag window (${lag} s, from "${cursor.name}" = ${JSON.stringify(held.first)}): ` +
      `the next run reads ${held.rows === 1 ? 'it' : 'them'} once the source clock is ${lag} s past ${held.rows === 1 ? 'it' : 'them'}`,
    fix: `nothing, if they are simply recent; if your writers commit within fewer seconds, lower cursor.lag_seconds (now ${lag})`,
  };
};

const privileges: Check = async (probes) => {
  const found = await probes.privileges();
  if (!found.known) {
    if (found.writes?.length) return { verdict: 'warn', detail: found.reason, fix: found.fix ?? null };
    return skipped(found.reason);
  }
  const readOnly = 'reads already run read-only, so this is advice about least privilege';
  if (found.writes.length === 0) return ok(`${found.role} can only read ${probes.shape.label}`);
  return {
    verdict: 'warn',
    detail: `${found.role} can write: ${found.writes.join(', ')} (${readOnly})`,
    fix: found.fix,
  };
};

const resyncEstimate: Check = async (probes, o) => {
  const estimate = await probes.estimate();
  if (estimate.rows === null) return ok(`no cheap estimate of the rows: ${estimate.basis}`);
  const rows = `about ${Math.round(estimate.rows)} rows (${estimate.basis})`;
  if (o.rowsPerSecond === null || o.rowsPerSecond <= 0) return ok(`a full resync reads ${rows}; no run yet to time it by`);
  const seconds = estimate.rows / o.rowsPerSecond;
  return ok(`a full resync reads ${rows}: about ${formatSeconds(seconds)} at this connector's past ${Math.round(o.rowsPerSecond)} rows/s`);
};

const CHECKS: Array<[CheckName, Check]> = [
  ['cursor_index', cursorIndex],
  ['equal_cursor_run', equalCursorRun],
  ['null_cursors', nullCursors],
  ['future_cursors', futureCursors],
  ['held_back', heldBack],
  ['privileges', privileges],
  ['resync_estimate', resyncEstimate],
];

/** `1 row`, `7 rows`, `at least 100000 rows` (a count that reached its cap). */
function counted(rows: number, cap: number): string {
  return rows >= cap ? `at least ${cap} rows` : rows === 1 ? '1 row' : `${rows} rows`;
}

function secondsBetween(now: string, later: CursorScalar): number | null {
  if (typeof later !== 'string' || !isIsoTimestamp(later) || !isIsoTimestamp(now)) return null;
  const micros = isoToMicros(later.length === 10 ? `${later}T00:00:00Z` : later) - isoToMicros(now);
  return Math.round(Number(micros) / 1e6);
}

function formatSeconds(s: number): string {
  if (s < 1) return 'under a second';
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
