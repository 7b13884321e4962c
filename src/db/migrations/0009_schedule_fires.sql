-- The fire time a scheduled run was made for, so a fire that never became a run can be found and recorded
-- (status 'missed'). One run per fire of a connector's scheduler: its job id names the fire.
alter table connector_runs add column scheduled_for timestamptz;
create unique index connector_runs_fire on connector_runs (connector_id, job_id) where scheduled_for is not null;
create index connector_runs_fires on connector_runs (connector_id, scheduled_for) where scheduled_for is not null;
