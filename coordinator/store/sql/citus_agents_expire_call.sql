-- sql/citus_agents_expire.sql on its shard's worker:
-- PgStore::ForgetAgentsNotSeenSince.
{{citus_on_shard_call}}$1, $2, $3::text[], $4, $5, $6, $7, $8, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
  AS r(host_id text, channel text, old_value text)
