import type { ProcessUsage } from '../lib/proc-stats';
import { markdownTable } from '../lib/markdown';
import type { MachineInfo } from '../lib/results';
import { formatBytes, formatInt, formatMs, median, spread, type Spread } from '../lib/stats';

/** One timed run of one scenario. */
export interface Measurement {
  run: number;
  records: number;
  wallMs: number;
  recordsPerS: number;
  bytesSent: number | null;
  /** The API server process during the run; null for scenarios that do not use it. */
  server: ProcessUsage | null;
  /** CPU of every PostgreSQL process (backends, WAL writer, checkpointer, autovacuum). */
  postgresCpuMs: number;
  /** CPU of the bench process itself (the load generator), which shares the machine. */
  benchCpuMs: number;
  machineBusyMs: number;
  counts: Record<string, number>;
}

export interface Scenario {
  id: string;
  label: string;
  /** The scenarios this one is compared with: the best of their median records/s is the ceiling. */
  ceiling?: string[];
  runs: Measurement[];
}

export interface Summary {
  id: string;
  label: string;
  recordsPerS: Spread;
  wallMs: Spread;
  bytesSent: number | null;
  /** Highest server peak RSS over the runs: the figure a memory limit has to allow for. */
  serverPeakRssBytes: number | null;
  /** The server's RSS when the run began (median): what the peak grew from. */
  serverStartRssBytes: number | null;
  /** Median CPU cores busy during the run: the server, PostgreSQL, the bench (load generator) and the rest of the machine. */
  cores: { server: number | null; postgres: number; bench: number; rest: number };
  /**
   * Median CPU time per record of the server and of PostgreSQL: what a record costs, which other work
   * on a shared machine disturbs far less than records/s.
   */
  cpuUsPerRecord: { server: number | null; postgres: number };
  ratioToCeiling: number | null;
}

export function summarize(scenarios: Scenario[]): Summary[] {
  const byId = new Map(scenarios.map((s) => [s.id, s]));
  const medianRate = (s: Scenario | undefined) => (s && s.runs.length ? median(s.runs.map((r) => r.recordsPerS)) : null);
  return scenarios.map((s) => {
    const cores = (f: (m: Measurement) => number) => median(s.runs.map((m) => f(m) / m.wallMs));
    const server = s.runs.every((m) => m.server?.cpuMs != null) ? cores((m) => m.server!.cpuMs!) : null;
    const bench = cores((m) => m.benchCpuMs);
    const known = (values: Array<number | null | undefined>) => values.filter((v): v is number => typeof v === 'number');
    const rss = known(s.runs.map((m) => m.server?.peakRssBytes));
    const startRss = known(s.runs.map((m) => m.server?.startRssBytes));
    const postgres = cores((m) => m.postgresCpuMs);
    const perRecord = (f: (m: Measurement) => number) => median(s.runs.map((m) => (f(m) * 1000) / m.records));
    const own = medianRate(s)!;
    const ceilings = (s.ceiling ?? []).map((id) => medianRate(byId.get(id))).filter((v): v is number => v !== null);
    const ceiling = ceilings.length ? Math.max(...ceilings) : null;
    return {
      id: s.id,
      label: s.label,
      recordsPerS: spread(s.runs.map((m) => m.recordsPerS)),
      wallMs: spread(s.runs.map((m) => m.wallMs)),
      bytesSent: s.runs[0]?.bytesSent ?? null,
      serverPeakRssBytes: rss.length ? Math.max(...rss) : null,
      serverStartRssBytes: startRss.length ? median(startRss) : null,
      cores: { server, postgres, bench, rest: Math.max(0, cores((m) => m.machineBusyMs) - bench - postgres - (server ?? 0)) },
      cpuUsPerRecord: { server: server === null ? null : perRecord((m) => m.server!.cpuMs!), postgres: perRecord((m) => m.postgresCpuMs) },
      ratioToCeiling: ceiling ? own / ceiling : null,
    };
  });
}

/** Cores used by other work beyond which a run's figures say more about the neighbours than about us. */
const BUSY_NEIGHBOURS = 0.25;

export function markdownReport(title: string, machine: MachineInfo, extra: string[], rows: Summary[]): string {
  const header = [
    `## ${title}`,
    '',
    `${machine.cores} cores (${machine.cpuModel}), ${formatBytes(machine.memoryBytes)} RAM, Node ${machine.node}, ${machine.os}`,
    ...extra,
    '',
  ];
  const table = markdownTable(
    [
      'scenario',
      'records/s (median)',
      'min–max',
      'wall (median)',
      'sent',
      'server RSS start → peak',
      'CPU µs/record: server / pg',
      'others busy',
      '× ceiling',
    ],
    rows.map((r) => [
      r.label,
      formatInt(r.recordsPerS.median),
      r.recordsPerS.n > 1 ? `${formatInt(r.recordsPerS.min)}–${formatInt(r.recordsPerS.max)}` : '—',
      formatMs(r.wallMs.median),
      formatBytes(r.bytesSent),
      r.serverPeakRssBytes === null ? '—' : `${formatBytes(r.serverStartRssBytes)} → ${formatBytes(r.serverPeakRssBytes)}`,
      `${r.cpuUsPerRecord.server === null ? '—' : r.cpuUsPerRecord.server.toFixed(1)} / ${r.cpuUsPerRecord.postgres.toFixed(1)}`,
      `${r.cores.rest.toFixed(2)} cores${r.cores.rest > BUSY_NEIGHBOURS ? ' (!)' : ''}`,
      r.ratioToCeiling === null ? '—' : `${r.ratioToCeiling.toFixed(2)}×`,
    ]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  );
  const busy = rows.some((r) => r.cores.rest > BUSY_NEIGHBOURS);
  const footer = busy
    ? [`\n(!) other work used over ${BUSY_NEIGHBOURS} cores during that scenario: its figures are low by an unknown amount`]
    : [];
  return [...header, table, ...footer].join('\n');
}
