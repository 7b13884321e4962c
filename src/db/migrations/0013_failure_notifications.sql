-- Failure notifications: where a connector's notifications go (the URL may hold credentials: sealed like the
-- connection config; settings.notify shows it redacted, with the events wanted) and the secret its calls are signed
-- with (sealed too).
alter table connectors add column notify_url_sealed text, add column notify_secret_sealed text;

-- One notification per run and event, written when the run ends: a job redelivered or a run settled twice sends
-- nothing more once it is delivered. state: pending (queued or being tried), delivered, failed (given up).
create table connector_notifications (
  run_id uuid not null references connector_runs(id) on delete cascade,
  event text not null,
  connector_id uuid not null references connectors(id) on delete cascade,
  tenant_id uuid not null references tenants(id) on delete cascade,
  state text not null default 'pending',
  attempts int not null default 0,
  status_code int,
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  primary key (run_id, event)
);
create index connector_notifications_pending on connector_notifications (created_at) where state = 'pending';
