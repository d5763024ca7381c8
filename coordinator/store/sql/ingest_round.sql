-- One round of a report batch (at most one report per host), written by a
-- single statement: an implicit transaction, one round trip, one commit
-- (PgStore::ApplyReports in pg_ingest.cc prepares it on each ingest
-- connection and runs it with a generic plan).
--
-- Parameters. The round's reports, as parallel arrays in host order:
--   $1 host_id  $2 channel  $3 group_name  $4 current_version  $5 health
--   $6 updater_version  $7 sequence  $15 instance_id  $16 schedule_state
--   $17 result of the last update attempt (0: none; rollout::LastOutcome)
--   $18 that attempt's to-version  $24 updating_to (empty: not updating)
-- their update outcomes, as parallel arrays:
--   $8 the report's 1-based position in $1  $9 from_version  $10 to_version
--   $11 result  $12 error  $13 start and $14 finish time (Unix microseconds)
-- the rules' constants, from the domain:
--   $19 counter shards (PgStore::kCounterShards)
--   $20 the seen bucket in ms (rollout::kSeenBucket)
--   $21 the outcome clock allowance in ms (rollout::kOutcomeClockAllowance)
--   $22 the coordinator's clock in Unix microseconds and $23 the sequence lead
--   in microseconds (rollout::MaxAcceptedSequence: a report is applied only
--   when sequence - $23 <= GREATEST(stored sequence, $22); written as a
--   subtraction so that a stored INT64_MAX cannot overflow)
--
-- What it does:
--   - locks the reports' channels against deletion (FOR KEY SHARE; operator
--     edits take FOR NO KEY UPDATE and are not blocked);
--   - refuses (leaves unapplied) reports whose sequence is further ahead than
--     rollout::MaxAcceptedSequence allows;
--   - updates each known host whose stored sequence is below the report's,
--     reaching the row by the tuple id its snapshot read (one index descent
--     per host, not two), provided the row is still that version: a
--     concurrent writer makes it skip the row, and the next round retries it;
--   - inserts unknown hosts (ON CONFLICT: a concurrent first report wins);
--   - moves the counters by what it really applied, old row to new row, in
--     its own counter shard (1 + backend pid modulo $19: shard 0 is the
--     compaction's alone, see counters_fold_fleet.sql);
--   - records the applied reports' outcomes and counts each against the
--     target epoch rollout::OutcomeTargetEpoch gives (mirrored below with the
--     channel rows it locked; store_test checks that the two agree);
--   - keeps, per host, which updater instance reported and flags an instance
--     reporting again after another one did (a cloned host id; the rule is
--     rollout::ApplyInstance, mirrored below; store_test checks that the two
--     agree), its schedule state (counted per channel like versions; a
--     heartbeat whose state did not change adds nothing to schedules) and
--     its last update attempt;
--   - records reports for a channel that does not exist in orphan_hosts
--     (only such reports write there).
-- It returns one row per report it did not apply:
-- (ordinal, channel_exists, stored_sequence or NULL).
WITH report AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::text[], $7::bigint[],
                       $15::text[], $16::smallint[], $17::smallint[], $18::text[], $24::text[])
    WITH ORDINALITY AS report(host_id, channel, group_name, version, health, updater_version, sequence,
                              instance_id, schedule_state, last_result, last_result_version, updating_to,
                              ordinal)),
locked_channel AS (
  SELECT name, target_epoch, target_version, target_updated_at FROM channels
  WHERE name IN (SELECT channel FROM report)
  ORDER BY name
  FOR KEY SHARE),
stored AS (
  SELECT ctid, host_id, channel, current_version, health, sequence, last_seen, instance_id, previous_instance_id,
         schedule_state
  FROM agents
  WHERE host_id = ANY($1::text[])),
updated AS (
  UPDATE agents AS agent
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
  INSERT INTO agents (host_id, channel, group_name, current_version, health, updater_version, sequence,
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
  INSERT INTO fleet_counts AS counter (channel, version, health, shard, agents)
  SELECT channel, version, health, 1 + pg_backend_pid() % $19::int, sum(delta)
  FROM (SELECT channel, current_version, health, 1 FROM updated
        UNION ALL SELECT old_channel, old_version, old_health, -1 FROM updated
        UNION ALL SELECT channel, current_version, health, 1 FROM inserted) AS moved(channel, version, health, delta)
  GROUP BY channel, version, health
  HAVING sum(delta) <> 0
  ORDER BY channel, version, health
  ON CONFLICT (channel, version, health, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
seen AS (
  INSERT INTO seen_counts AS counter (channel, bucket, shard, agents)
  SELECT channel, bucket, 1 + pg_backend_pid() % $19::int, sum(delta)
  FROM (SELECT channel, date_bin($20 * interval '1 millisecond', now(), 'epoch'), 1 FROM applied
        UNION ALL
        SELECT old_channel, date_bin($20 * interval '1 millisecond', old_last_seen, 'epoch'), -1 FROM updated
       ) AS moved(channel, bucket, delta)
  GROUP BY channel, bucket
  HAVING sum(delta) <> 0
  ORDER BY channel, bucket
  ON CONFLICT (channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
schedules AS (
  INSERT INTO schedule_counts AS counter (channel, state, shard, agents)
  SELECT channel, state, 1 + pg_backend_pid() % $19::int, sum(delta)
  FROM (SELECT channel, schedule_state, 1 FROM updated
          WHERE (channel, schedule_state) IS DISTINCT FROM (old_channel, old_schedule_state)
        UNION ALL SELECT old_channel, old_schedule_state, -1 FROM updated
          WHERE (channel, schedule_state) IS DISTINCT FROM (old_channel, old_schedule_state)
        UNION ALL SELECT channel, schedule_state, 1 FROM inserted) AS moved(channel, state, delta)
  GROUP BY channel, state
  HAVING sum(delta) <> 0
  ORDER BY channel, state
  ON CONFLICT (channel, state, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents),
orphans AS (
  INSERT INTO orphan_hosts AS orphan (host_id, channel, group_name, current_version, health, instance_id,
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
  INSERT INTO update_events (host_id, channel, from_version, to_version, result, error, started_at, finished_at,
                             report_sequence)
  SELECT report.host_id, applied.channel, outcome.from_version, outcome.to_version, outcome.result, outcome.error,
         'epoch'::timestamptz + outcome.started_us * interval '1 microsecond',
         'epoch'::timestamptz + outcome.finished_us * interval '1 microsecond', report.sequence
  FROM outcome
  JOIN applied ON applied.ordinal = outcome.ordinal
  JOIN report ON report.ordinal = outcome.ordinal),
outcome_totals AS (
  INSERT INTO outcome_counts AS counter (channel, target_epoch, result, shard, outcomes)
  SELECT applied.channel,
         -- rollout::OutcomeTargetEpoch.
         CASE WHEN locked_channel.target_epoch = 0 OR locked_channel.target_updated_at IS NULL
                   OR (outcome.to_version = locked_channel.target_version
                       AND 'epoch'::timestamptz + outcome.finished_us * interval '1 microsecond'
                           >= locked_channel.target_updated_at - $21 * interval '1 millisecond')
              THEN locked_channel.target_epoch
              ELSE locked_channel.target_epoch - 1 END,
         outcome.result, 1 + pg_backend_pid() % $19::int, count(*)
  FROM outcome
  JOIN applied ON applied.ordinal = outcome.ordinal
  JOIN locked_channel ON locked_channel.name = applied.channel
  GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3
  ON CONFLICT (channel, target_epoch, result, shard) DO UPDATE SET outcomes = counter.outcomes + EXCLUDED.outcomes)
SELECT report.ordinal, locked_channel.name IS NOT NULL AS channel_exists, stored.sequence AS stored_sequence
FROM report
LEFT JOIN locked_channel ON locked_channel.name = report.channel
LEFT JOIN stored ON stored.host_id = report.host_id
WHERE report.ordinal NOT IN (SELECT ordinal FROM applied)
