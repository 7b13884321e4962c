-- A sweep's (or verify's) staged keys get a table of their run's own in this schema, named by the run id: forgetting
-- them when the run ends is a DROP instead of deleting a million rows of one shared table (a third of a second per
-- million keys, inside the run's last transaction).
create schema sweep_staging;

-- The keys staged so far are not moved: an unfinished sweep or verify (or one held for confirmation) reads the
-- source again from its start, so it never anti-joins against a part of its keys.
update connector_runs set sweep_cursor = null, sweep_read = false, rows_read = 0, verify = null
 where (sweep_cursor is not null or sweep_read) and status not in ('succeeded', 'failed', 'cancelled', 'skipped', 'missed');
drop table sweep_keys;
