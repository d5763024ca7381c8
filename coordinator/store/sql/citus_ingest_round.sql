-- ingest_round.sql for Citus (migration 000012): the same statement for the
-- hosts of one shard, run on the worker holding it by drover_on_shards (with
-- the worker's other shards of the round, in one transaction there) as a
-- plain PostgreSQL statement on that worker's shard tables ({agents} and so
-- on). It differs from ingest_round.sql only in that: the tables are
-- placeholders, every parameter arrives as text (so each is cast), the
-- counter rows carry the shard's anchor ($25), the ordinals returned count
-- from $26 (the reports of the call's earlier shards), and update_events'
-- ids come from the worker's range of its sequence (a shard table has no
-- default). Keep the two in step: sql_files_test compares them, and
-- tests/citus.sh runs the store tests through this one.
WITH report AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::text[], $7::bigint[],
                       $15::text[], $16::smallint[], $17::smallint[], $18::text[], $24::text[])
    WITH ORDINALITY AS report(host_id, channel, group_name, version, health, updater_version, sequence,
                              instance_id, schedule_state, last_result, last_result_version, updating_to,
                              ordinal)),
locked_channel AS (
  SELECT name, target_epoch, target_version, target_updated_at FROM {channels}
  WHERE name IN (SELECT channel FROM report)
  ORDER BY name
  FOR KEY SHARE),
stored AS (
  SELECT ctid, host_id, channel, current_version, health, sequence, last_seen, instance_id, previous_instance_id,
         schedule_state
  FROM {agents}
  WHERE host_id = ANY($1::text[])),
updated AS (
  UPDATE {agents} AS agent
  SET channel = report.channel,
      group_name = report.group_name,
      current_version = report.version,
      health = report.health,
      updater_version = report.updater_version,
      sequence = report.sequence,
      last_seen = now(),
      -- rollout::ApplyInstance.
      instance_id = CASE WHEN report.instance_id = '' THEN stored.instance_id ELSE report.instance_id END,
      previous_instance_id = CASE WHEN report.instance_id <> '' AND stored.instance_id NOT IN ('', report.instance_id)
                                  THEN stored.instance_id
                                  ELSE stored.previous_instance_id END,
      instance_conflict_at = CASE WHEN report.instance_id <> '' AND stored.instance_id NOT IN ('', report.instance_id)
                                       AND stored.previous_instance_id = report.instance_id
                                  THEN now()
                                  ELSE agent.instance_conflict_at END,
      schedule_state = report.schedule_state,
      last_result = CASE WHEN report.last_result = 0 THEN agent.last_result ELSE report.last_result END,
      last_result_version = CASE WHEN report.last_result = 0 THEN agent.last_result_version
                                 ELSE report.last_result_version END,
      -- A report without it (the outcome's, after the install) clears it.
      updating_to = report.updating_to
  FROM report
  JOIN stored ON stored.host_id = report.host_id
  JOIN locked_channel ON locked_channel.name = report.channel
  WHERE agent.ctid = stored.ctid AND agent.sequence = stored.sequence AND report.sequence > stored.sequence
    AND report.sequence - $23::bigint <= GREATEST(stored.sequence, $22::bigint)
  RETURNING report.ordinal, agent.channel, agent.current_version, agent.health, agent.schedule_state,
            stored.channel AS old_channel, stored.current_version AS old_version, stored.health AS old_health,
            stored.last_seen AS old_last_seen, stored.schedule_state AS old_schedule_state),
inserted AS (
  INSERT INTO {agents} (host_id, channel, group_name, current_version, health, updater_version, sequence,
                      first_seen, last_seen, instance_id, schedule_state, last_result, last_result_version,
                      updating_to)
  SELECT report.host_id, report.channel, report.group_name, report.version, report.health, report.updater_version,
         report.sequence, now(), now(), report.instance_id, report.schedule_state, NULLIF(report.last_result, 0),
         CASE WHEN report.last_result = 0 THEN NULL ELSE report.last_result_version END, report.updating_to
  FROM report JOIN locked_channel ON locked_channel.name = report.channel
  WHERE NOT EXISTS (SELECT 1 FROM stored WHERE stored.host_id = report.host_id)
    AND report.sequence - $23::bigint <= $22::bigint
  ORDER BY report.host_id
  ON CONFLICT (host_id) DO NOTHING
  RETURNING host_id, channel, current_version, health, schedule_state),
applied AS (
  SELECT ordinal, channel FROM updated
  UNION ALL
  SELECT report.ordinal, inserted.channel FROM inserted JOIN report ON report.host_id = inserted.host_id),
fleet AS (
  INSERT INTO {fleet_counts} AS counter (channel, version, health, shard, anchor, agents)
  SELECT channel, version, health, 1 + pg_backend_pid() % $19::int, $25::text, sum(delta)
  FROM (SELECT channel, current_version, health, 1 FROM updated
        UNION ALL SELECT old_channel, old_version, old_health, -1 FROM updated
        UNION ALL SELECT channel, current_version, health, 1 FROM inserted) AS moved(channel, version, health, delta)
  GROUP BY channel, version, health
  HAVING sum(delta) <> 0
  ORDER BY channel, version, health
  ON CONFLICT (anchor, channel, version, health, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
seen AS (
  INSERT INTO {seen_counts} AS counter (channel, bucket, shard, anchor, agents)
  SELECT channel, bucket, 1 + pg_backend_pid() % $19::int, $25::text, sum(delta)
  FROM (SELECT channel, date_bin($20::bigint * interval '1 millisecond', now(), 'epoch'), 1 FROM applied
        UNION ALL
        SELECT old_channel, date_bin($20::bigint * interval '1 millisecond', old_last_seen, 'epoch'), -1 FROM updated
       ) AS moved(channel, bucket, delta)
  GROUP BY channel, bucket
  HAVING sum(delta) <> 0
  ORDER BY channel, bucket
  ON CONFLICT (anchor, channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
schedules AS (
  INSERT INTO {schedule_counts} AS counter (channel, state, shard, anchor, agents)
  SELECT channel, state, 1 + pg_backend_pid() % $19::int, $25::text, sum(delta)
  FROM (SELECT channel, schedule_state, 1 FROM updated
          WHERE (channel, schedule_state) IS DISTINCT FROM (old_channel, old_schedule_state)
        UNION ALL SELECT old_channel, old_schedule_state, -1 FROM updated
          WHERE (channel, schedule_state) IS DISTINCT FROM (old_channel, old_schedule_state)
        UNION ALL SELECT channel, schedule_state, 1 FROM inserted) AS moved(channel, state, delta)
  GROUP BY channel, state
  HAVING sum(delta) <> 0
  ORDER BY channel, state
  ON CONFLICT (anchor, channel, state, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
orphans AS (
  INSERT INTO {orphan_hosts} AS orphan (host_id, channel, group_name, current_version, health, instance_id,
                                      first_seen, last_seen)
  SELECT report.host_id, report.channel, report.group_name, report.version, report.health, report.instance_id,
         now(), now()
  FROM report
  WHERE NOT EXISTS (SELECT 1 FROM locked_channel WHERE locked_channel.name = report.channel)
  ORDER BY report.host_id
  ON CONFLICT (host_id) DO UPDATE SET channel = EXCLUDED.channel, group_name = EXCLUDED.group_name,
      current_version = EXCLUDED.current_version, health = EXCLUDED.health, instance_id = EXCLUDED.instance_id,
      last_seen = EXCLUDED.last_seen),
outcome AS (
  SELECT * FROM unnest($8::bigint[], $9::text[], $10::text[], $11::smallint[], $12::text[], $13::bigint[],
                       $14::bigint[])
    AS outcome(ordinal, from_version, to_version, result, error, started_us, finished_us)),
events AS (
  INSERT INTO {update_events} (id, host_id, channel, from_version, to_version, result, error, started_at,
                               finished_at, report_sequence)
  SELECT nextval('update_events_id_seq'), report.host_id, applied.channel, outcome.from_version, outcome.to_version, outcome.result, outcome.error,
         'epoch'::timestamptz + outcome.started_us * interval '1 microsecond',
         'epoch'::timestamptz + outcome.finished_us * interval '1 microsecond', report.sequence
  FROM outcome
  JOIN applied ON applied.ordinal = outcome.ordinal
  JOIN report ON report.ordinal = outcome.ordinal),
outcome_totals AS (
  INSERT INTO {outcome_counts} AS counter (channel, target_epoch, result, shard, anchor, outcomes)
  SELECT applied.channel,
         -- rollout::OutcomeTargetEpoch.
         CASE WHEN locked_channel.target_epoch = 0 OR locked_channel.target_updated_at IS NULL
                   OR (outcome.to_version = locked_channel.target_version
                       AND 'epoch'::timestamptz + outcome.finished_us * interval '1 microsecond'
                           >= locked_channel.target_updated_at - $21::bigint * interval '1 millisecond')
              THEN locked_channel.target_epoch
              ELSE locked_channel.target_epoch - 1 END,
         outcome.result, 1 + pg_backend_pid() % $19::int, $25::text, count(*)
  FROM outcome
  JOIN applied ON applied.ordinal = outcome.ordinal
  JOIN locked_channel ON locked_channel.name = applied.channel
  GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3
  ON CONFLICT (anchor, channel, target_epoch, result, shard) DO UPDATE SET outcomes = counter.outcomes + EXCLUDED.outcomes)
SELECT report.ordinal + $26::bigint AS ordinal, locked_channel.name IS NOT NULL AS channel_exists,
       stored.sequence AS stored_sequence
FROM report
LEFT JOIN locked_channel ON locked_channel.name = report.channel
LEFT JOIN stored ON stored.host_id = report.host_id
WHERE report.ordinal NOT IN (SELECT ordinal FROM applied)
