-- A paused connector runs nothing (no scheduled run, manual pulls refused) and keeps its position. `enabled` is the
-- same switch: paused_at says since when, pause_reason why.
alter table connectors add column paused_at timestamptz, add column pause_reason text;

-- Why a run read nothing: rows newer than the lag bound, counted up to a cap, and the source-clock instant at which
-- the first of them leaves the lag window (the first run starting after it reads them).
alter table connector_runs add column rows_held_back bigint, add column held_back_until text;
-- An operator asked the run to stop: a queued run is cancelled at once, a running one after its current batch.
alter table connector_runs add column cancel_requested_at timestamptz;

-- What happened during a run, in order: started, each committed batch, retries, held-back rows, the outcome, and
-- operator actions (a position set by hand).
create table connector_run_events (
  id bigserial primary key,
  run_id uuid not null references connector_runs(id) on delete cascade,
  at timestamptz not null default clock_timestamp(),
  kind text not null,
  detail jsonb not null default '{}'
);
create index connector_run_events_by_run on connector_run_events (run_id, id);

-- The columns a run found at the source ({name, type} in order) and what changed since the last successful run's.
alter table connector_runs add column source_columns jsonb, add column schema_changes jsonb;

-- A backfill run reads from <= cursor < to (cursor values in their JSON form) without moving the connector's
-- position; its own checkpoint is its cursor_after.
alter table connector_runs add column backfill_from jsonb, add column backfill_to jsonb;
