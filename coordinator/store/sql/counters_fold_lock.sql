-- Whether this transaction may fold counters: one compaction at a time,
-- across replicas (a transaction-level advisory lock; the key is the text
-- hashed). False: another replica is at it, skip this turn.
SELECT pg_try_advisory_xact_lock(hashtext('drover.counters_fold'));
