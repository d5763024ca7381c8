-- liveness_flush.sql for Citus (migration 000012): the same statement for the
-- hosts of one shard, run there by drover_on_shard($6 anchor, ...) as a plain
-- PostgreSQL statement on that worker's shard tables. It differs from
-- liveness_flush.sql only in that: the tables are placeholders, every
-- parameter arrives as text (so each is cast), and the counter rows carry
-- the shard's anchor ($6). Keep the two in step.
WITH beat AS (
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS beat(host_id, seen_us, sequence)),
stored AS MATERIALIZED (
  -- Rows a batch of reports is writing right now are skipped, not waited
  -- for: the flush never waits on a lock, so it cannot deadlock with the
  -- ingest statement (whose lock order is its plan's). Those rows are
  -- returned and written by the next flush. The values read are the rows'
  -- current ones and stay so until the update below.
  --
  -- Each row carries its heartbeat, so the update below reaches it by tuple
  -- id alone: joined to `beat` there, the planner (which cannot know that
  -- the tuple-id join keeps every row) chose a nested loop over both, a
  -- million comparisons per 1,000 hosts (270 ms; now about 25 ms).
  SELECT agent.ctid, agent.host_id, agent.channel, agent.last_seen, agent.sequence,
         'epoch'::timestamptz + beat.seen_us * interval '1 microsecond' AS beat_seen, beat.sequence AS beat_sequence
  FROM beat JOIN {agents} AS agent ON agent.host_id = beat.host_id
  FOR NO KEY UPDATE OF agent SKIP LOCKED),
updated AS (
  UPDATE {agents} AS agent
  SET last_seen = stored.beat_seen,
      sequence = GREATEST(stored.sequence, stored.beat_sequence)
  FROM stored
  WHERE agent.ctid = stored.ctid AND agent.sequence = stored.sequence AND agent.last_seen = stored.last_seen
    AND stored.beat_seen > stored.last_seen
  RETURNING agent.host_id, agent.channel, agent.last_seen, stored.last_seen AS old_last_seen),
seen AS (
  INSERT INTO {seen_counts} AS counter (channel, bucket, shard, anchor, agents)
  SELECT channel, bucket, 1 + pg_backend_pid() % $4::int, $6::text, sum(delta)
  FROM (SELECT channel, date_bin($5::bigint * interval '1 millisecond', last_seen, 'epoch'), 1 FROM updated
        UNION ALL
        SELECT channel, date_bin($5::bigint * interval '1 millisecond', old_last_seen, 'epoch'), -1 FROM updated
       ) AS moved(channel, bucket, delta)
  GROUP BY channel, bucket
  HAVING sum(delta) <> 0
  ORDER BY channel, bucket
  ON CONFLICT (anchor, channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents)
-- Not written: rows skipped as locked (or gone), and rows not updated
-- although the beat is newer. Only for those is the row looked up again.
SELECT beat.host_id, NOT EXISTS (SELECT 1 FROM {agents} AS agents WHERE agents.host_id = beat.host_id) AS missing
FROM beat LEFT JOIN stored ON stored.host_id = beat.host_id
WHERE stored.host_id IS NULL
   OR (stored.beat_seen > stored.last_seen AND stored.host_id NOT IN (SELECT host_id FROM updated))
