-- agent_forget.sql for Citus: the same statement on the worker holding the
-- host's shard (drover_on_shard, $4 its anchor), whose counter rows it moves.
WITH gone AS (
  DELETE FROM {agents} WHERE host_id = $1
  RETURNING channel, current_version, health, last_seen, schedule_state, sequence),
fleet AS (
  INSERT INTO {fleet_counts} AS counter (channel, version, health, shard, anchor, agents)
  SELECT channel, current_version, health, 1 + pg_backend_pid() % $2::int, $4::text, -1 FROM gone
  ON CONFLICT (anchor, channel, version, health, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
seen AS (
  INSERT INTO {seen_counts} AS counter (channel, bucket, shard, anchor, agents)
  SELECT channel, date_bin($3::bigint * interval '1 millisecond', last_seen, 'epoch'), 1 + pg_backend_pid() % $2::int,
         $4::text, -1
  FROM gone
  ON CONFLICT (anchor, channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
schedules AS (
  INSERT INTO {schedule_counts} AS counter (channel, state, shard, anchor, agents)
  SELECT channel, schedule_state, 1 + pg_backend_pid() % $2::int, $4::text, -1 FROM gone
  ON CONFLICT (anchor, channel, state, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
orphan AS (
  DELETE FROM {orphan_hosts} WHERE host_id = $1 RETURNING host_id)
SELECT gone.channel, gone.sequence, EXISTS (SELECT 1 FROM orphan) AS orphan_removed
FROM (SELECT 1) AS one
LEFT JOIN gone ON true
