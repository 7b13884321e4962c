-- Saved database sources, their committed position, and the history of their runs.
create table connectors (
  id uuid primary key,
  tenant_id uuid not null references tenants(id) on delete cascade,
  name text not null,
  connector_type text not null,
  vertical text not null,
  entity_type text not null,
  -- AES-256-GCM sealed JSON, "<key id>:<iv>:<tag>:<ciphertext>"; never returned by the API.
  connection_config_sealed text not null,
  -- The rest of the definition (query/table, cursor, mapping, batch size), validated on write.
  settings jsonb not null,
  schedule text,
  timezone text not null default 'UTC',
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, name)
);

create table connector_state (
  connector_id uuid primary key references connectors(id) on delete cascade,
  -- The committed position {value, key}; written in the same transaction as the batch it follows.
  cursor jsonb,
  -- Source-clock start time of the last successful run (full precision text): the next :last_pull.
  last_pull text,
  updated_at timestamptz not null default now()
);

create table connector_runs (
  id uuid primary key default gen_random_uuid(),
  connector_id uuid not null references connectors(id) on delete cascade,
  tenant_id uuid not null references tenants(id) on delete cascade,
  job_id text,
  trigger text not null,           -- schedule | manual
  mode text not null,              -- incremental | full
  status text not null,            -- queued | running | succeeded | failed | skipped
  attempts int not null default 0,
  ingestion_id uuid references ingestions(id) on delete set null,
  rows_read bigint not null default 0,
  inserted bigint not null default 0,
  updated bigint not null default 0,
  unchanged bigint not null default 0,
  rejected bigint not null default 0,
  cursor_before jsonb,
  cursor_after jsonb,
  -- A full run resets the cursor once, on its first attempt; a retry resumes from what was committed.
  cursor_reset boolean not null default false,
  source_started_at text,
  error text,
  error_kind text,
  queued_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);
create index connector_runs_by_connector on connector_runs (connector_id, queued_at desc);
create index connector_runs_active on connector_runs (connector_id) where status in ('queued', 'running');
