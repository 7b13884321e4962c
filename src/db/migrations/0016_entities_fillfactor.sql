-- Every page of entities keeps a tenth of its space free: an update that changes none of the indexed columns (a pull's
-- changed record: its name, document, hash, owner and updated_at) then writes its new version on the same page, a HOT
-- update, with no new entry in any of the entities' indexes. At 100 (the default) a first load's COPY fills every page,
-- so each later update lands on another page and inserts into all three B-trees: an incremental run that updated 1% of
-- 1M entities spent 38% less of PostgreSQL's CPU at 90, and the first load took no longer (bench/results). Applies to
-- the pages written from now on; nothing is rewritten.
alter table entities set (fillfactor = 90);
