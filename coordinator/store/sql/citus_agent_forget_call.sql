-- sql/citus_agent_forget.sql on its shard's worker: PgStore::ForgetAgent.
{{citus_on_shard_call}}$1, $2, $3::text[], $4, $5, $6, $7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
  AS r(channel text, sequence bigint, orphan_removed boolean)
