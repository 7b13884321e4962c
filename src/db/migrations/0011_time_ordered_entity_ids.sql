-- Entity ids ordered by creation time (UUIDv7: 48 bits of Unix milliseconds, then random bits), so a bulk load appends
-- to the primary key and the listing index instead of splitting pages all over them (a first load of 1M rows spends
-- most of its index time there with random UUIDs). PostgreSQL 18 has uuidv7() built in; this one is for 15 to 17.
-- Existing ids stay as they are: both kinds are valid UUIDs and keyset listing only needs them unique.
create function entity_uuid_v7() returns uuid language sql volatile parallel safe as $$
  select encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid
$$;
alter table entities alter column id set default entity_uuid_v7();
