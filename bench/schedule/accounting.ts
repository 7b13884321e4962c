/**
 * Who spends a fleet's CPU, minute by minute: the workers, the redis-server, and every PostgreSQL process by what it
 * serves (the platform or the source database, its application_name or, for a server process, its backend_type).
 * Read from /proc (no cost to the measured processes) every `sampleMs`; a new pid is named from pg_stat_activity
 * on the tick it appears, on a connection of the accounting's own (its backend is a group of its own).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { pidsNamed, processCpuMs } from '../lib/proc-stats';

export const ACCOUNTING_APP = 'qanatix-bench-accounting';

export interface AccountingOptions {
  adminUrl: string;
  platformDb: string;
  sourceDb: string;
  workerPids: number[];
  redisPid: number;
  sampleMs?: number;
}

/** Cumulative CPU (ms) since the accounting began, by group; `born` counts the PostgreSQL processes started since. */
export interface CpuSnapshot {
  at: number;
  workersMs: number;
  redisMs: number;
  postgres: Record<string, { cpuMs: number; born: number }>;
}

/** The part of a group's name that says whose it is: the fleet's (`platform`, `source`), the server's, or another's. */
export const groupScope = (group: string) => group.split(' · ')[0]!;

export function startAccounting(o: AccountingOptions): { snapshot(): CpuSnapshot; stop(): Promise<void> } {
  const client = new pg.Client({ connectionString: o.adminUrl, application_name: ACCOUNTING_APP });
  client.on('error', () => {});
  const connected = client.connect();
  const group = new Map<number, string>();
  /** CPU of each pid when first seen (0 for a process born after the start), and when last seen. */
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const bornAfterStart = new Set<number>();
  let naming = false;
  const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + (processCpuMs(pid) ?? 0), 0);
  const workers0 = cpuOf(o.workerPids);
  const redis0 = processCpuMs(o.redisPid) ?? 0;

  const scopeOf = (db: string | null) =>
    db === o.platformDb ? 'platform' : db === o.sourceDb ? 'source' : db === null || db === '' ? 'server' : 'other databases';
  /** Ticks each pid has gone unnamed: one pg_stat_activity never lists (the postmaster) is named from its title. */
  const tries = new Map<number, number>();
  /** Names the pids pg_stat_activity lists; the rest (the postmaster, a backend still logging in) from their titles. */
  const name = async (pids: number[]) => {
    if (naming) return;
    naming = true;
    try {
      await connected;
      const { rows } = await client.query<{ pid: number; db: string | null; app: string | null; type: string | null }>(
        'select pid, datname as db, application_name as app, backend_type as type from pg_stat_activity where pid = any($1)',
        [pids],
      );
      for (const r of rows) {
        const scope = scopeOf(r.db);
        if (r.app === ACCOUNTING_APP) group.set(r.pid, 'benchmark · accounting connection');
        else if (scope === 'other databases') group.set(r.pid, scope);
        else if (r.type !== 'client backend') group.set(r.pid, `${scope} · ${r.type}`);
        else if (r.db !== null) group.set(r.pid, `${scope} · ${r.app || '(no application_name)'}`);
        // else: still logging in, named on a later tick
      }
      for (const pid of pids) {
        if (group.has(pid)) continue;
        const n = (tries.get(pid) ?? 0) + 1;
        tries.set(pid, n);
        if (n >= 3) group.set(pid, titleGroup(pid));
      }
    } catch {
      // a lost naming query is retried on the next tick
    } finally {
      naming = false;
    }
  };
  const titleGroup = (pid: number) => {
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (!title.startsWith('postgres:')) return 'server · postmaster';
      if (title.includes(` ${o.platformDb} `)) return 'platform · (ended before it was named)';
      if (title.includes(` ${o.sourceDb} `)) return 'source · (ended before it was named)';
      return 'other databases';
    } catch {
      return 'unknown · (ended before it was named)';
    }
  };

  const sample = (initial: boolean) => {
    const unnamed: number[] = [];
    for (const pid of pidsNamed('postgres')) {
      const ms = processCpuMs(pid);
      if (ms === null) continue;
      if (!first.has(pid)) {
        first.set(pid, initial ? ms : 0);
        if (!initial) bornAfterStart.add(pid);
      }
      last.set(pid, ms);
      if (!group.has(pid)) unnamed.push(pid);
    }
    if (unnamed.length) void name(unnamed);
  };
  sample(true);
  const timer = setInterval(() => sample(false), o.sampleMs ?? 200);
  timer.unref();

  return {
    snapshot() {
      sample(false);
      const postgres: CpuSnapshot['postgres'] = {};
      for (const [pid, ms] of last) {
        const g = group.get(pid) ?? titleGroup(pid);
        const entry = (postgres[g] ??= { cpuMs: 0, born: 0 });
        entry.cpuMs += ms - first.get(pid)!;
        if (bornAfterStart.has(pid)) entry.born++;
      }
      return {
        at: Date.now(),
        workersMs: cpuOf(o.workerPids) - workers0,
        redisMs: (processCpuMs(o.redisPid) ?? redis0) - redis0,
        postgres,
      };
    },
    async stop() {
      clearInterval(timer);
      await connected.catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

/** CPU spent between two snapshots, by group. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuSnapshot {
  const postgres: CpuSnapshot['postgres'] = {};
  for (const [g, v] of Object.entries(b.postgres)) {
    const before = a.postgres[g] ?? { cpuMs: 0, born: 0 };
    postgres[g] = { cpuMs: v.cpuMs - before.cpuMs, born: v.born - before.born };
  }
  return { at: b.at - a.at, workersMs: b.workersMs - a.workersMs, redisMs: b.redisMs - a.redisMs, postgres };
}
