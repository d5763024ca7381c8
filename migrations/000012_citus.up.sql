-- Scale-out on Citus (issue 17, docs/scale.md). On plain PostgreSQL (no
-- citus extension in this database) this migration changes nothing.
--
-- With the extension, the schema is distributed:
--   by host id, in one co-location group (a host's rows of every table on
--   the same shard, so a host's writes never leave its worker):
--     agents, update_events (and its time partitions), orphan_hosts,
--     rollout_hosts;
--   the counters (fleet_counts, seen_counts, schedule_counts,
--   outcome_counts) by a new column `anchor`, in the same group: each shard
--   of agents counts its own hosts in counter rows that live beside them
--   (anchor = a key that hashes into that shard, counter_anchors). Status
--   reads sum all shards' rows; an ingest round is split by worker
--   (PgStore::ApplyReports) and each part is one local transaction on that
--   worker, hosts and counters alike: no distributed transaction, no
--   two-phase commit on the report path;
--   as reference tables (a copy on every node, written everywhere): channels
--   and everything else small that the above join or check against.
--   audit_events stays a table of the coordinator node, where the
--   coordinators read and write it.
-- Primary keys of distributed tables must hold the distribution column:
-- update_events' becomes (host_id, id, recorded_at), the counters' gain
-- anchor.
--
-- drover_on_shard(anchor, statement, ...) runs one statement in a single
-- shard group: Citus delegates the call to the worker holding anchor's shard
-- (it is a distributed function, co-located with agents), where the
-- statement's {agents}-style placeholders become that worker's local shard
-- tables. So the ingest and liveness statements, whose CTEs Citus' planner
-- would otherwise pull apart through the coordinator, run there as plain
-- PostgreSQL statements (sql/citus_*.sql). It is force-delegated: inside a
-- transaction block too (forgetting an agent, which the coordinator node's
-- audit trail records in the same transaction), and Citus then commits the
-- worker's part and the rest together.
--
-- Shards: citus.shard_count (32 by default; set it on the database before
-- this migration for more, see docs/scale.md). After splitting shards, run
-- SELECT drover_refresh_counter_anchors().
DO $citus$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    RETURN;
  END IF;
  -- The one trigger (channels_keep_last_target) only sets the new row from
  -- itself, so running it on every copy of channels is safe.
  PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);

  -- Reference tables. channels and rollouts refer to each other: the
  -- foreign key from channels comes back once both are distributed.
  ALTER TABLE channels DROP CONSTRAINT channels_rollout_id_fkey;
  PERFORM create_reference_table('channels');
  PERFORM create_reference_table('rollouts');
  ALTER TABLE channels ADD CONSTRAINT channels_rollout_id_fkey
      FOREIGN KEY (rollout_id) REFERENCES rollouts (id) ON DELETE SET NULL;
  PERFORM create_reference_table(t)
  FROM unnest(ARRAY['channel_metadata', 'channel_changes', 'rollout_groups', 'rollout_policies',
                    'rollout_policy_groups', 'trust_roots', 'trust_delegations', 'operator_tokens',
                    'join_tokens', 'host_certificates']) AS t;

  -- By host id.
  PERFORM create_distributed_table('agents', 'host_id');
  ALTER TABLE update_events DROP CONSTRAINT update_events_pkey;
  ALTER TABLE update_events ADD PRIMARY KEY (host_id, id, recorded_at);
  PERFORM create_distributed_table(t, 'host_id', colocate_with => 'agents')
  FROM unnest(ARRAY['update_events', 'orphan_hosts', 'rollout_hosts']) AS t;

  -- Counter anchors: for each shard of agents, a key that hashes into it.
  CREATE TABLE counter_anchors (
    shardid bigint PRIMARY KEY,
    anchor text COLLATE "C" NOT NULL);
  PERFORM create_reference_table('counter_anchors');
  EXECUTE $sql$
    CREATE FUNCTION drover_refresh_counter_anchors() RETURNS integer LANGUAGE plpgsql AS $fn$
    DECLARE
      shards bigint[];
      found_shards bigint[] := '{}';
      found_anchors text[] := '{}';
      n bigint := 0;
      r record;
    BEGIN
      SELECT array_agg(shardid ORDER BY shardid) INTO shards
      FROM pg_dist_shard WHERE logicalrelid = 'agents'::regclass;
      WHILE cardinality(found_shards) < cardinality(shards) LOOP
        -- About shard count * ln(shard count) tries: a few hundred.
        FOR r IN SELECT DISTINCT ON (c.shardid) c.shardid, c.anchor
                 FROM (SELECT get_shard_id_for_distribution_column('agents', 'counters-' || i) AS shardid,
                              'counters-' || i AS anchor
                       FROM generate_series(n, n + 999) AS i) AS c
                 WHERE NOT c.shardid = ANY (found_shards)
                 ORDER BY c.shardid, length(c.anchor), c.anchor LOOP
          found_shards := found_shards || r.shardid;
          found_anchors := found_anchors || r.anchor;
        END LOOP;
        n := n + 1000;
      END LOOP;
      DELETE FROM counter_anchors;
      INSERT INTO counter_anchors (shardid, anchor) SELECT * FROM unnest(found_shards, found_anchors);
      RETURN cardinality(found_shards);
    END $fn$
  $sql$;
  PERFORM drover_refresh_counter_anchors();

  -- The counters: rows there so far (the whole fleet's, counted on one
  -- PostgreSQL) stay as they are under the anchor 'counters-0' (always the
  -- anchor of its shard): status reads sum all anchors.
  ALTER TABLE fleet_counts ADD COLUMN anchor text COLLATE "C" NOT NULL DEFAULT 'counters-0';
  ALTER TABLE seen_counts ADD COLUMN anchor text COLLATE "C" NOT NULL DEFAULT 'counters-0';
  ALTER TABLE schedule_counts ADD COLUMN anchor text COLLATE "C" NOT NULL DEFAULT 'counters-0';
  ALTER TABLE outcome_counts ADD COLUMN anchor text COLLATE "C" NOT NULL DEFAULT 'counters-0';
  ALTER TABLE fleet_counts DROP CONSTRAINT fleet_counts_pkey;
  ALTER TABLE fleet_counts ADD PRIMARY KEY (anchor, channel, version, health, shard);
  ALTER TABLE seen_counts DROP CONSTRAINT seen_counts_pkey;
  ALTER TABLE seen_counts ADD PRIMARY KEY (anchor, channel, bucket, shard);
  ALTER TABLE schedule_counts DROP CONSTRAINT schedule_counts_pkey;
  ALTER TABLE schedule_counts ADD PRIMARY KEY (anchor, channel, state, shard);
  ALTER TABLE outcome_counts DROP CONSTRAINT outcome_counts_pkey;
  ALTER TABLE outcome_counts ADD PRIMARY KEY (anchor, channel, target_epoch, result, shard);
  PERFORM create_distributed_table(t, 'anchor', colocate_with => 'agents')
  FROM unnest(ARRAY['fleet_counts', 'seen_counts', 'schedule_counts', 'outcome_counts']) AS t;

  EXECUTE $sql$
    CREATE FUNCTION drover_on_shard(anchor text, statement text, settings text[],
        p1 text, p2 text, p3 text, p4 text, p5 text, p6 text, p7 text, p8 text, p9 text, p10 text,
        p11 text, p12 text, p13 text, p14 text, p15 text, p16 text, p17 text, p18 text, p19 text, p20 text,
        p21 text, p22 text, p23 text, p24 text, p25 text)
    RETURNS SETOF record LANGUAGE plpgsql AS $fn$
    DECLARE
      t text;
      local_statement text := statement;
      prepared text;
    BEGIN
      -- settings: name, value pairs for this transaction only.
      FOR i IN 1 .. coalesce(array_length(settings, 1), 0) / 2 LOOP
        PERFORM set_config(settings[2 * i - 1], settings[2 * i], true);
      END LOOP;
      FOREACH t IN ARRAY ARRAY['agents', 'update_events', 'orphan_hosts', 'rollout_hosts', 'fleet_counts',
                               'seen_counts', 'schedule_counts', 'outcome_counts'] LOOP
        local_statement := replace(local_statement, '{' || t || '}',
            shard_name(t::regclass, get_shard_id_for_distribution_column(t::regclass, anchor)));
      END LOOP;
      local_statement := replace(local_statement, '{channels}',
          shard_name('channels'::regclass, (SELECT shardid FROM pg_dist_shard
                                            WHERE logicalrelid = 'channels'::regclass)));
      -- Planned once per worker connection (Citus keeps them open), like
      -- the prepared statements of plain PostgreSQL's ingest connections.
      prepared := 'drover_' || md5(local_statement);
      IF NOT EXISTS (SELECT 1 FROM pg_prepared_statements AS p WHERE p.name = prepared) THEN
        EXECUTE format('PREPARE %I (text, text, text, text, text, text, text, text, text, text, text, text, text, '
                       'text, text, text, text, text, text, text, text, text, text, text, text) AS %s',
                       prepared, local_statement);
      END IF;
      -- (EXECUTE of a prepared statement takes no parameters: literals.)
      RETURN QUERY EXECUTE format('EXECUTE %I (%L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, '
                                  '%L, %L, %L, %L, %L, %L, %L, %L)', prepared, p1, p2, p3, p4, p5, p6, p7, p8, p9,
                                  p10, p11, p12, p13, p14, p15, p16, p17, p18, p19, p20, p21, p22, p23, p24, p25);
    END $fn$
  $sql$;
  PERFORM create_distributed_function(
      'drover_on_shard(text, text, text[], text, text, text, text, text, text, text, text, text, text, text, '
      'text, text, text, text, text, text, text, text, text, text, text, text, text, text)',
      'anchor', colocate_with => 'agents', force_delegation => true);

  -- drover_on_shards(anchor, statement, settings, anchors, p1[] .. p25[]):
  -- the same for several shards of one worker (anchor is anchors[1], and
  -- every anchor's shard is on that worker), one after the other in one
  -- transaction there: shard i's statement gets p1[i] .. p25[i], and $26,
  -- the number of reports before it (ingest: ordinals are the batch's).
  -- One delegated call and one commit per worker and round instead of one
  -- per shard (docs/scale.md).
  EXECUTE $sql$
    CREATE FUNCTION drover_on_shards(anchor text, statement text, settings text[], anchors text[],
        p1 text[], p2 text[], p3 text[], p4 text[], p5 text[], p6 text[], p7 text[], p8 text[], p9 text[],
        p10 text[], p11 text[], p12 text[], p13 text[], p14 text[], p15 text[], p16 text[], p17 text[],
        p18 text[], p19 text[], p20 text[], p21 text[], p22 text[], p23 text[], p24 text[], p25 text[],
        offsets bigint[])
    RETURNS SETOF record LANGUAGE plpgsql AS $fn$
    DECLARE
      t text;
      local_statement text;
      prepared text;
      channels_shard text := shard_name('channels'::regclass, (SELECT shardid FROM pg_dist_shard
                                                               WHERE logicalrelid = 'channels'::regclass));
    BEGIN
      FOR i IN 1 .. coalesce(array_length(settings, 1), 0) / 2 LOOP
        PERFORM set_config(settings[2 * i - 1], settings[2 * i], true);
      END LOOP;
      FOR part IN 1 .. cardinality(anchors) LOOP
        -- The caller chose this worker from the coordinator node's placements:
        -- a shard that has moved away since is refused (the caller retries),
        -- never written in a copy left behind for deletion.
        IF NOT EXISTS (SELECT 1 FROM pg_dist_placement AS p
                       WHERE p.shardid = get_shard_id_for_distribution_column('agents', anchors[part])
                         AND p.groupid = (SELECT groupid FROM pg_dist_local_group)) THEN
          RAISE EXCEPTION 'the shard of anchor % is not on this node (moved?): retry', anchors[part]
              USING ERRCODE = 'serialization_failure';
        END IF;
        local_statement := replace(statement, '{channels}', channels_shard);
        FOREACH t IN ARRAY ARRAY['agents', 'update_events', 'orphan_hosts', 'rollout_hosts', 'fleet_counts',
                                 'seen_counts', 'schedule_counts', 'outcome_counts'] LOOP
          local_statement := replace(local_statement, '{' || t || '}',
              shard_name(t::regclass, get_shard_id_for_distribution_column(t::regclass, anchors[part])));
        END LOOP;
        prepared := 'drover_' || md5(local_statement);
        IF NOT EXISTS (SELECT 1 FROM pg_prepared_statements AS p WHERE p.name = prepared) THEN
          EXECUTE format('PREPARE %I (text, text, text, text, text, text, text, text, text, text, text, text, '
                         'text, text, text, text, text, text, text, text, text, text, text, text, text, bigint) '
                         'AS %s', prepared, local_statement);
        END IF;
        RETURN QUERY EXECUTE format('EXECUTE %I (%L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %L, '
                                    '%L, %L, %L, %L, %L, %L, %L, %L, %L, %L, %s)', prepared, p1[part], p2[part],
                                    p3[part], p4[part], p5[part], p6[part], p7[part], p8[part], p9[part],
                                    p10[part], p11[part], p12[part], p13[part], p14[part], p15[part], p16[part],
                                    p17[part], p18[part], p19[part], p20[part], p21[part], p22[part], p23[part],
                                    p24[part], p25[part], offsets[part]);
      END LOOP;
    END $fn$
  $sql$;
  PERFORM create_distributed_function(
      'drover_on_shards(text, text, text[], text[], text[], text[], text[], text[], text[], text[], text[], '
      'text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], '
      'text[], text[], text[], text[], text[], bigint[])',
      'anchor', colocate_with => 'agents');
END
$citus$;
