import { markdownTable } from '../lib/markdown';
import type { MachineInfo } from '../lib/results';
import { formatBytes, formatInt, formatMs, median, spread, type Spread } from '../lib/stats';

export type Tool = 'ours' | 'ceiling' | 'floor' | 'dlt' | 'sling';
export type Pass = 'first' | 'rescan-unchanged' | 'incremental-unchanged' | 'incremental-1pct';

export const PASS_LABEL: Record<Pass, string> = {
  first: 'first full load',
  'rescan-unchanged': 'unchanged re-pull (all rows re-read, none changed; ours: mode full)',
  'incremental-unchanged': 'unchanged incremental re-run',
  'incremental-1pct': 'incremental after 1% of rows changed',
};

/** One timed run of one tool on one pass. */
export interface Measurement {
  run: number;
  /** Rows the pass had to move or compare: the table for full passes, the changed rows for incrementals. */
  rows: number;
  wallMs: number;
  rowsPerS: number;
  /** Peak resident memory of the loading process (ours: the worker, VmHWM) or process tree (sampled sum). */
  peakRssBytes: number | null;
  startRssBytes: number | null;
  /** CPU time of the loading process(es) and of every PostgreSQL process during the pass. */
  loaderCpuMs: number | null;
  postgresCpuMs: number;
  counts: Record<string, number>;
}

export interface Scenario {
  /** `<source>/<pass>` for the comparison table; the tool is a column. */
  key: string;
  source: string;
  pass: Pass;
  tool: Tool;
  tableRows: number;
  runs: Measurement[];
}

export interface ToolSummary {
  wallMs: Spread;
  rowsPerS: Spread;
  peakRssBytes: number | null;
  loaderCores: number | null;
  postgresCores: number;
}

export interface ScenarioSummary {
  key: string;
  source: string;
  pass: Pass;
  label: string;
  tableRows: number;
  rows: number;
  tools: Partial<Record<Tool, ToolSummary>>;
  /** Throughput ratios, ours divided by theirs; for the same rows, their median wall time over ours. */
  ours_vs_ceiling: number | null;
  ours_vs_dlt?: number | null;
  ours_vs_sling?: number | null;
  /** Against PostgreSQL alone writing the same entities (ceiling.ts `loadFloor`); first loads of bench/peers only. */
  ours_vs_floor?: number | null;
}

function summarizeTool(s: Scenario): ToolSummary {
  const rss = s.runs.map((m) => m.peakRssBytes).filter((v): v is number => v !== null);
  const cpu = s.runs.filter((m) => m.loaderCpuMs !== null);
  return {
    wallMs: spread(s.runs.map((m) => m.wallMs)),
    rowsPerS: spread(s.runs.map((m) => m.rowsPerS)),
    peakRssBytes: rss.length ? Math.max(...rss) : null,
    loaderCores: cpu.length ? median(cpu.map((m) => m.loaderCpuMs! / m.wallMs)) : null,
    postgresCores: median(s.runs.map((m) => m.postgresCpuMs / m.wallMs)),
  };
}

export function summarize(scenarios: Scenario[], peers: Tool[] = []): ScenarioSummary[] {
  const keys = [...new Set(scenarios.map((s) => s.key))];
  return keys.map((key) => {
    const group = scenarios.filter((s) => s.key === key);
    const tools: Partial<Record<Tool, ToolSummary>> = {};
    for (const s of group) tools[s.tool] = summarizeTool(s);
    const ratio = (other: Tool) => (tools.ours && tools[other] ? tools[other]!.wallMs.median / tools.ours.wallMs.median : null);
    const first = group[0]!;
    const out: ScenarioSummary = {
      key,
      source: first.source,
      pass: first.pass,
      label: `${first.source}: ${PASS_LABEL[first.pass]}`,
      tableRows: first.tableRows,
      rows: median(group.flatMap((s) => s.runs.map((m) => m.rows))),
      tools,
      ours_vs_ceiling: ratio('ceiling'),
    };
    if (peers.includes('dlt')) out.ours_vs_dlt = ratio('dlt');
    if (peers.includes('sling')) out.ours_vs_sling = ratio('sling');
    if (peers.includes('floor') && tools.floor) out.ours_vs_floor = ratio('floor');
    return out;
  });
}

const x = (r: number | null | undefined) => (r === null || r === undefined || !Number.isFinite(r) ? '—' : `${r.toFixed(2)}×`);
const wall = (s: Spread) => `${formatMs(s.median)} (${formatMs(s.min)}–${formatMs(s.max)})`;
const rate = (t: ToolSummary | undefined, rows: number) => (t && rows > 0 ? formatInt(t.rowsPerS.median) : '—');

/** One row per scenario and tool: wall time with spread, rows/s, peak RSS, cores used, ratio. */
export function markdownReport(title: string, machine: MachineInfo, notes: string[], summary: ScenarioSummary[], tools: Tool[]): string {
  const rows: string[][] = [];
  for (const s of summary) {
    for (const tool of tools) {
      const t = s.tools[tool];
      if (!t) continue;
      const vs = tool === 'ours' ? '' : x(s.tools.ours ? t.wallMs.median / s.tools.ours.wallMs.median : null);
      rows.push([
        s.label,
        tool,
        formatInt(s.rows),
        wall(t.wallMs),
        rate(t, s.rows),
        formatBytes(t.peakRssBytes),
        t.loaderCores === null ? '—' : t.loaderCores.toFixed(2),
        t.postgresCores.toFixed(2),
        vs,
      ]);
    }
  }
  const table = markdownTable(
    ['scenario', 'tool', 'rows', 'wall median (min–max)', 'rows/s', 'peak RSS', 'loader cores', 'postgres cores', 'ours vs this'],
    rows,
    ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  );
  const head = `## ${title}\n\n${machine.cores} cores (${machine.cpuModel}), ${formatBytes(machine.memoryBytes)} RAM, Node ${machine.node}\n`;
  return [head, table, '', ...notes.map((n) => `- ${n}`)].join('\n');
}

/** The scaling rows: our first load at several table sizes. */
export function scalingTable(
  points: Array<{ rows: number; wallMs: number; rowsPerS: number; peakRssBytes: number | null; startRssBytes: number | null }>,
): string {
  const base = points[0];
  return markdownTable(
    ['rows', 'wall', 'rows/s', 'µs/row', 'time vs linear from smallest', 'worker RSS start → peak'],
    points.map((p) => [
      formatInt(p.rows),
      formatMs(p.wallMs),
      formatInt(p.rowsPerS),
      ((p.wallMs * 1000) / p.rows).toFixed(1),
      base ? `${(p.wallMs / ((base.wallMs * p.rows) / base.rows)).toFixed(2)}×` : '—',
      `${formatBytes(p.startRssBytes)} → ${formatBytes(p.peakRssBytes)}`,
    ]),
    ['right', 'right', 'right', 'right', 'right', 'right'],
  );
}
