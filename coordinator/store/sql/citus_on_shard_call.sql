-- Citus: runs $2 (a statement with {table} placeholders, sql/citus_*.sql) on
-- the worker holding the shard of $1 (an anchor, counter_anchors), with $3
-- (name, value pairs) set for its transaction and $4.. as its parameters
-- $1..$25 (text). Citus delegates the call to that worker (migration
-- 000012): one local transaction there. Rows as the plain statement's.
-- (A fragment: citus_ingest_call.sql, citus_liveness_call.sql.)
SELECT * FROM drover_on_shard(