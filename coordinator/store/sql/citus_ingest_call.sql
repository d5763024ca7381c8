-- sql/citus_ingest_round.sql on its shard's worker: PgStore::WriteRoundPart.
{{citus_on_shard_call}}$1, $2, $3::text[], $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                              $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)
  AS r(ordinal bigint, channel_exists boolean, stored_sequence bigint)
