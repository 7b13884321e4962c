-- Operator credentials: installation-wide operations (the queue board, pausing or cleaning queues, every tenant's
-- jobs). They belong to no tenant, and no tenant key carries their power.
create table operator_credentials (
  id uuid primary key default gen_random_uuid(),
  -- The user name the queue board's login asks for.
  name text not null,
  -- HMAC-SHA256 of the token under API_KEY_SALT; the token itself is never stored.
  token_hash text not null unique,
  token_prefix text not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create unique index operator_credentials_active_name on operator_credentials (name) where revoked_at is null;

-- A tenant's view of the queue maps Redis job ids back to runs.
create index connector_runs_by_job on connector_runs (job_id) where job_id is not null;
