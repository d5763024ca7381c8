-- agents_expire.sql for Citus: the same in one shard, on the worker holding
-- it (drover_on_shard, $5 its anchor); the audit rows, which live on the
-- coordinator node, are written by citus_agents_expire_audit.sql in the same
-- transaction, from the old values this returns.
WITH victim AS (
  SELECT ctid FROM {agents}
  WHERE last_seen < 'epoch'::timestamptz + $1::bigint * interval '1 microsecond'
  LIMIT $2::bigint
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM {agents} AS agent USING victim
  WHERE agent.ctid = victim.ctid
  RETURNING agent.host_id, agent.channel, agent.current_version, agent.health, agent.last_seen, agent.schedule_state,
            agent.sequence),
fleet AS (
  INSERT INTO {fleet_counts} AS counter (channel, version, health, shard, anchor, agents)
  SELECT channel, current_version, health, 1 + pg_backend_pid() % $3::int, $5::text, -count(*) FROM gone
  GROUP BY channel, current_version, health
  ORDER BY channel, current_version, health
  ON CONFLICT (anchor, channel, version, health, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
seen AS (
  INSERT INTO {seen_counts} AS counter (channel, bucket, shard, anchor, agents)
  SELECT channel, date_bin($4::bigint * interval '1 millisecond', last_seen, 'epoch') AS bucket,
         1 + pg_backend_pid() % $3::int, $5::text, -count(*)
  FROM gone
  GROUP BY 1, 2
  ORDER BY 1, 2
  ON CONFLICT (anchor, channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
schedules AS (
  INSERT INTO {schedule_counts} AS counter (channel, state, shard, anchor, agents)
  SELECT channel, schedule_state, 1 + pg_backend_pid() % $3::int, $5::text, -count(*) FROM gone
  GROUP BY channel, schedule_state
  ORDER BY channel, schedule_state
  ON CONFLICT (anchor, channel, state, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents)
SELECT host_id, channel,
       'channel=' || channel || ' sequence=' || sequence || ' last_seen=' || to_char(last_seen AT TIME ZONE 'UTC',
                                                                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"')
         AS old_value
FROM gone ORDER BY host_id
