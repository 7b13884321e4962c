-- Requests a key may make per minute; null: the installation's RATE_LIMIT_PER_MINUTE.
alter table api_keys add column rate_limit_per_minute integer check (rate_limit_per_minute between 1 and 1000000);

-- A key rotated with a grace period: its replaced secret stays valid until previous_key_expires_at. One previous
-- secret at most: rotating again ends the earlier one's grace at once.
alter table api_keys add column previous_key_hash text, add column previous_key_expires_at timestamptz;
create unique index api_keys_previous_key_hash on api_keys (previous_key_hash) where previous_key_hash is not null;
