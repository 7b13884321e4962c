-- Signatures of timestamped webhook calls already accepted, shared by every API process: a replay inside the
-- tolerance window finds its signature here and is refused; an older replay is refused by its timestamp.
-- Rows are deleted once they are twice the window old (the margin covers clocks that differ between processes).
create table webhook_signatures (
  -- HMAC-SHA256 of "<timestamp>.<raw body>": what a replay repeats byte for byte.
  digest bytea primary key,
  tenant_id uuid not null references tenants(id) on delete cascade,
  signed_at timestamptz not null,
  received_at timestamptz not null default now()
);
create index webhook_signatures_signed_at on webhook_signatures (signed_at);
