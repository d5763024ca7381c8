-- Back to tables of the coordinator node alone (plain PostgreSQL tables
-- there), every row kept: the counters' anchors are summed away. Nothing to
-- do without the citus extension.
DO $citus$
DECLARE
  t text;
BEGIN
  -- Only what the up migration distributed (the extension may have come
  -- after it ran as a no-op).
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') OR to_regclass('counter_anchors') IS NULL THEN
    RETURN;
  END IF;
  DROP FUNCTION IF EXISTS drover_on_shards(text, text, text[], text[], text[], text[], text[], text[], text[], text[],
                                 text[], text[], text[], text[], text[], text[], text[], text[], text[], text[],
                                 text[], text[], text[], text[], text[], text[], text[], text[], text[], bigint[]);
  DROP FUNCTION IF EXISTS drover_on_shard(text, text, text[], text, text, text, text, text, text, text, text, text, text,
                                text, text, text, text, text, text, text, text, text, text, text, text, text,
                                text, text);
  FOREACH t IN ARRAY ARRAY['fleet_counts', 'seen_counts', 'schedule_counts', 'outcome_counts', 'rollout_hosts',
                           'orphan_hosts', 'update_events', 'agents', 'counter_anchors', 'host_certificates',
                           'join_tokens', 'operator_tokens', 'trust_delegations', 'trust_roots',
                           'rollout_policy_groups', 'rollout_policies', 'rollout_groups', 'channel_changes',
                           'channel_metadata', 'rollouts', 'channels'] LOOP
    IF EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = t::regclass) THEN
      PERFORM undistribute_table(t, cascade_via_foreign_keys => true);
    END IF;
  END LOOP;
  -- The id sequences stay Citus objects, which cannot be altered (migration
  -- 000011's down does): each is replaced by a plain one going on above every
  -- id given so far (ids made on workers come from ranges of their own).
  FOREACH t IN ARRAY ARRAY['update_events', 'rollouts', 'channel_changes', 'trust_delegations',
                           'operator_tokens'] LOOP
    EXECUTE format('CREATE SEQUENCE %I', t || '_id_seq_local');
    EXECUTE format('SELECT setval(%L, greatest((SELECT last_value FROM %I), (SELECT max(id) FROM %I), 1))',
                   t || '_id_seq_local', t || '_id_seq', t);
    EXECUTE format('ALTER TABLE %I ALTER COLUMN id SET DEFAULT nextval(%L::regclass)', t, t || '_id_seq_local');
    EXECUTE format('DROP SEQUENCE %I', t || '_id_seq');
    EXECUTE format('ALTER SEQUENCE %I RENAME TO %I', t || '_id_seq_local', t || '_id_seq');
    EXECUTE format('ALTER SEQUENCE %I OWNED BY %I.id', t || '_id_seq', t);
  END LOOP;
END
$citus$;
DROP FUNCTION IF EXISTS drover_refresh_counter_anchors();
DROP TABLE IF EXISTS counter_anchors;

DO $counters$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_name = 'fleet_counts' AND column_name = 'anchor') THEN
    RETURN;
  END IF;
  ALTER TABLE fleet_counts DROP CONSTRAINT fleet_counts_pkey;
  WITH gone AS (DELETE FROM fleet_counts RETURNING *)
  INSERT INTO fleet_counts (channel, version, health, shard, anchor, agents)
  SELECT channel, version, health, shard, '', sum(agents) FROM gone GROUP BY 1, 2, 3, 4;
  ALTER TABLE fleet_counts DROP COLUMN anchor;
  ALTER TABLE fleet_counts ADD PRIMARY KEY (channel, version, health, shard);

  ALTER TABLE seen_counts DROP CONSTRAINT seen_counts_pkey;
  WITH gone AS (DELETE FROM seen_counts RETURNING *)
  INSERT INTO seen_counts (channel, bucket, shard, anchor, agents)
  SELECT channel, bucket, shard, '', sum(agents) FROM gone GROUP BY 1, 2, 3;
  ALTER TABLE seen_counts DROP COLUMN anchor;
  ALTER TABLE seen_counts ADD PRIMARY KEY (channel, bucket, shard);

  ALTER TABLE schedule_counts DROP CONSTRAINT schedule_counts_pkey;
  WITH gone AS (DELETE FROM schedule_counts RETURNING *)
  INSERT INTO schedule_counts (channel, state, shard, anchor, agents)
  SELECT channel, state, shard, '', sum(agents) FROM gone GROUP BY 1, 2, 3;
  ALTER TABLE schedule_counts DROP COLUMN anchor;
  ALTER TABLE schedule_counts ADD PRIMARY KEY (channel, state, shard);

  ALTER TABLE outcome_counts DROP CONSTRAINT outcome_counts_pkey;
  WITH gone AS (DELETE FROM outcome_counts RETURNING *)
  INSERT INTO outcome_counts (channel, target_epoch, result, shard, anchor, outcomes)
  SELECT channel, target_epoch, result, shard, '', sum(outcomes) FROM gone GROUP BY 1, 2, 3, 4;
  ALTER TABLE outcome_counts DROP COLUMN anchor;
  ALTER TABLE outcome_counts ADD PRIMARY KEY (channel, target_epoch, result, shard);

  ALTER TABLE update_events DROP CONSTRAINT update_events_pkey;
  ALTER TABLE update_events ADD PRIMARY KEY (id, recorded_at);
END
$counters$;
