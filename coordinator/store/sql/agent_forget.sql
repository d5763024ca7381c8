-- Forgets one host (droverctl agents forget): its agents row and its
-- orphan_hosts row go, and the counters lose what the row added to them, in
-- this connection's shard like an ingest round would, so that the host's next
-- report is a first report again (any sequence up to
-- rollout::MaxAcceptedSequence of no stored one). Its update history stays.
-- $1 host_id  $2 counter shards (PgStore::kCounterShards)
-- $3 the seen bucket in ms (rollout::kSeenBucket)
-- Returns the forgotten row's channel and sequence (no row: nothing stored)
-- and whether an orphan_hosts row went.
WITH gone AS (
  DELETE FROM agents WHERE host_id = $1
  RETURNING channel, current_version, health, last_seen, schedule_state, sequence),
fleet AS (
  INSERT INTO fleet_counts AS counter (channel, version, health, shard, agents)
  SELECT channel, current_version, health, 1 + pg_backend_pid() % $2::int, -1 FROM gone
  ON CONFLICT (channel, version, health, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
seen AS (
  INSERT INTO seen_counts AS counter (channel, bucket, shard, agents)
  SELECT channel, date_bin($3::bigint * interval '1 millisecond', last_seen, 'epoch'), 1 + pg_backend_pid() % $2::int, -1
  FROM gone
  ON CONFLICT (channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
schedules AS (
  INSERT INTO schedule_counts AS counter (channel, state, shard, agents)
  SELECT channel, schedule_state, 1 + pg_backend_pid() % $2::int, -1 FROM gone
  ON CONFLICT (channel, state, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
orphan AS (
  DELETE FROM orphan_hosts WHERE host_id = $1 RETURNING host_id)
SELECT gone.channel, gone.sequence, EXISTS (SELECT 1 FROM orphan) AS orphan_removed
FROM (SELECT 1) AS one
LEFT JOIN gone ON true
