-- sql/citus_ingest_round.sql on one worker, for each of its shards in the
-- round (drover_on_shards, migration 000012): PgStore::WriteRoundPart. $1 the
-- first shard's anchor (Citus sends the call to its worker), $2 the
-- statement, $3 settings, $4 the shards' anchors, $5..$29 the statement's
-- parameters as arrays (element i: shard i's), $30 the ordinal offsets.
SELECT * FROM drover_on_shards($1, $2, $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                               $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                               $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
                               $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[],
                               $27::text[], $28::text[], $29::text[], $30::bigint[])
  AS r(ordinal bigint, channel_exists boolean, stored_sequence bigint)
