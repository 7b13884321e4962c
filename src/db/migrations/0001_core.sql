-- The ingestion core's store.
create table tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null unique,
  created_at timestamptz not null default now()
);

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references tenants(id) on delete cascade,
  name text not null,
  -- HMAC-SHA256 of the key under API_KEY_SALT; the key itself is never stored.
  key_hash text not null unique,
  key_prefix text not null,
  scopes text[] not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz
);

create table schemas (
  tenant_id uuid not null references tenants(id) on delete cascade,
  vertical text not null,
  entity_type text not null,
  version int not null,
  schema jsonb not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, vertical, entity_type, version)
);

create table entities (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references tenants(id) on delete cascade,
  vertical text not null,
  entity_type text not null,
  name text not null,
  source_id text,
  -- 's:' || source_id, or 'h:' || content_hash for records without one: the upsert key.
  dedup_key text not null,
  vertical_data jsonb not null,
  -- SHA-256 of name and the jsonb text of vertical_data (canonical in jsonb): unchanged records are not rewritten.
  content_hash text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index entities_dedup on entities (tenant_id, vertical, entity_type, dedup_key);
-- Keyset pagination of the read API.
create index entities_listing on entities (tenant_id, vertical, entity_type, id);

create table ingestions (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references tenants(id) on delete cascade,
  source_type text not null,
  source_name text,
  vertical text not null,
  entity_type text not null,
  status text not null default 'processing',
  record_count int not null default 0,
  inserted int not null default 0,
  updated int not null default 0,
  unchanged int not null default 0,
  duplicate_count int not null default 0,
  rejected int not null default 0,
  error_summary jsonb,
  created_at timestamptz not null default now(),
  completed_at timestamptz
);
create index ingestions_tenant on ingestions (tenant_id, created_at);

-- The dead letter queue: every record an ingestion refused, with why.
create table ingestion_errors (
  id bigserial primary key,
  ingestion_id uuid not null references ingestions(id) on delete cascade,
  tenant_id uuid not null references tenants(id) on delete cascade,
  position int not null,
  raw text not null,
  error_type text not null,
  messages jsonb not null,
  created_at timestamptz not null default now()
);
create index ingestion_errors_by_ingestion on ingestion_errors (ingestion_id, id);
