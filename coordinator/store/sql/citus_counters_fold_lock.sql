-- Citus: counters_fold_lock.sql for the session, not the transaction: the
-- folds run outside any transaction block there (one on each shard's worker),
-- so it is released by citus_counters_fold_unlock.sql.
SELECT pg_try_advisory_lock(hashtext('drover.counters_fold'))
