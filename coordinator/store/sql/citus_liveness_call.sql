-- sql/citus_liveness_flush.sql on its shard's worker: PgStore::WriteLiveness.
{{citus_on_shard_call}}$1, $2, $3::text[], $4, $5, $6, $7, $8, $9, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
  AS r(host_id text, missing boolean)
