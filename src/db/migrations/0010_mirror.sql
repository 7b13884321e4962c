-- Mirroring the source over time: which connector wrote an entity, soft deletes, key sweeps and verify runs.

-- The connector whose pull last wrote the entity; null for pushed entities and for entities written before
-- ownership was recorded (the next pull that reads their row claims them). No foreign key: deleting a connector
-- clears it (or deletes its entities) in one statement, and a sweep finds a connector's entities through the
-- target's own index.
alter table entities add column connector_id uuid, add column deleted_at timestamptz;
-- Soft-deleted entities are few: a pull undeletes through this small index, not the whole dedup index.
create index entities_deleted on entities (tenant_id, vertical, entity_type, dedup_key) where deleted_at is not null;

alter table connector_runs
  add column deleted bigint not null default 0,
  add column undeleted bigint not null default 0,
  -- A sweep's (or verify's) position in key order, committed with the keys it staged: a retry resumes after it.
  add column sweep_cursor jsonb,
  -- The source was read to its end: what is left is the anti-join (and, for a sweep, the guard).
  add column sweep_read boolean not null default false,
  -- How many entities the guard held back; the confirm endpoint clears the guard by setting confirmed.
  add column pending_deletes bigint,
  add column confirmed boolean not null default false,
  -- {checked, missing, extra, stale, samples: {missing: [], extra: [], stale: []}}
  add column verify jsonb;

-- The source's keys a sweep (or verify) has read so far, per run: the anti-join's other side (hashed, so no index).
-- A page of keys commits with the run's position after it, so no key is staged twice. No foreign key: its check
-- per staged key made staging ten times slower; a run's keys are deleted when it finishes, and with its connector.
create table sweep_keys (
  run_id uuid not null,
  source_id text not null
);
