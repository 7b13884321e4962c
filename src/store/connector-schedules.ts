import type { Queryable } from '../db/pool';

/** A connector's schedule as PostgreSQL, the source of truth, holds it: what Redis's job schedulers must match. */
export interface WantedSchedule {
  id: string;
  tenant_id: string;
  /** What a fire runs: pulls on `schedule`, sweeps on `deletes.sweep_schedule`, verifies on `verify_schedule`. */
  mode: 'incremental' | 'sweep' | 'verify';
  schedule: string;
  timezone: string;
}

/** Every schedule of every enabled connector, of every tenant. */
export async function wantedSchedules(db: Queryable): Promise<WantedSchedule[]> {
  const { rows } = await db.query<WantedSchedule>(
    `select c.id, c.tenant_id, s.mode, s.schedule, c.timezone from connectors c
       cross join lateral (values ('incremental', c.schedule), ('sweep', c.settings->'deletes'->>'sweep_schedule'),
                                  ('verify', c.settings->>'verify_schedule')) as s(mode, schedule)
      where c.enabled and s.schedule is not null`,
  );
  return rows;
}
