-- This installation's identity, so that connectors can refuse to read the platform's own database however they
-- reach it (another name, another address, a proxy). The id is also the table's comment: a PostgreSQL connector
-- reads it from the catalog right after connecting, which every role may do without any grant.
create table qanatix_installation (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now()
);
create unique index qanatix_installation_one_row on qanatix_installation ((true));
insert into qanatix_installation default values;
grant select on qanatix_installation to public;

do $$
begin
  execute format('comment on table qanatix_installation is %L', 'qanatix installation ' || (select id from qanatix_installation));
end
$$;
