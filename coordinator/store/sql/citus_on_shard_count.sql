-- A statement returning one count (sql/citus_counters_*.sql) on the worker
-- holding $1's shard, without parameters of its own.
{{citus_on_shard_call}}$1, $2, $3::text[], NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
  AS r(n bigint)
