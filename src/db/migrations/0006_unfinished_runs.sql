-- Every worker looks for runs left without a live job once a minute (jobs/run-recovery.ts): an index on the
-- few unfinished runs instead of a scan of the whole run history.
create index connector_runs_unfinished on connector_runs (queued_at) where status in ('queued', 'running', 'retrying');
