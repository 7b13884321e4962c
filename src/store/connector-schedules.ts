import type { Queryable } from '../db/pool';

/** A connector's schedule as PostgreSQL, the source of truth, holds it: what Redis's job schedulers must match. */
export interface WantedSchedule {
  id: string;
  tenant_id: string;
  schedule: string;
  timezone: string;
}

/** Every enabled connector that has a schedule, of every tenant. */
export async function wantedSchedules(db: Queryable): Promise<WantedSchedule[]> {
  const { rows } = await db.query<WantedSchedule>(
    'select id, tenant_id, schedule, timezone from connectors where enabled and schedule is not null',
  );
  return rows;
}
