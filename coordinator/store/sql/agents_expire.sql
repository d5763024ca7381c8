-- Forgets up to $2 agents last seen before $1 (Unix microseconds,
-- rollout::ForgetAgentsCutoff), as agent_forget.sql forgets one: their rows
-- go, the counters lose what the rows added (in this connection's shard),
-- and each is audited (actor "coordinator"). Their update history stays.
-- Rows an ingest batch holds are skipped: a host reporting right now is not
-- one to forget, and the next pass sees the rest.
-- $3 counter shards (PgStore::kCounterShards)  $4 the seen bucket in ms
-- $5 the audit reason ("not seen for ...")
-- Returns the forgotten hosts.
WITH victim AS (
  SELECT ctid FROM agents
  WHERE last_seen < 'epoch'::timestamptz + $1::bigint * interval '1 microsecond'
  LIMIT $2
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM agents AS agent USING victim
  WHERE agent.ctid = victim.ctid
  RETURNING agent.host_id, agent.channel, agent.current_version, agent.health, agent.last_seen, agent.schedule_state,
            agent.sequence),
fleet AS (
  INSERT INTO fleet_counts AS counter (channel, version, health, shard, agents)
  SELECT channel, current_version, health, 1 + pg_backend_pid() % $3::int, -count(*) FROM gone
  GROUP BY channel, current_version, health
  ORDER BY channel, current_version, health
  ON CONFLICT (channel, version, health, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
seen AS (
  INSERT INTO seen_counts AS counter (channel, bucket, shard, agents)
  SELECT channel, date_bin($4::bigint * interval '1 millisecond', last_seen, 'epoch') AS bucket,
         1 + pg_backend_pid() % $3::int, -count(*)
  FROM gone
  GROUP BY 1, 2
  ORDER BY 1, 2
  ON CONFLICT (channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
schedules AS (
  INSERT INTO schedule_counts AS counter (channel, state, shard, agents)
  SELECT channel, schedule_state, 1 + pg_backend_pid() % $3::int, -count(*) FROM gone
  GROUP BY channel, schedule_state
  ORDER BY channel, schedule_state
  ON CONFLICT (channel, state, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
audit AS (
  INSERT INTO audit_events (actor, peer, method, object, old_value, result, reason)
  SELECT 'coordinator', '', 'ForgetStaleAgents', 'hosts/' || host_id,
         'channel=' || channel || ' sequence=' || sequence || ' last_seen=' || to_char(last_seen AT TIME ZONE 'UTC',
                                                                                       'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'ok', $5
  FROM gone)
SELECT host_id, channel FROM gone ORDER BY host_id
