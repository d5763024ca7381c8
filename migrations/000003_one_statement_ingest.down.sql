-- Fold the shards into one row per key before the key loses its shard column.
CREATE TEMP TABLE folded_fleet AS
    SELECT channel, version, health, sum(agents)::bigint AS agents FROM fleet_counts GROUP BY 1, 2, 3;
CREATE TEMP TABLE folded_seen AS
    SELECT channel, bucket, sum(agents)::bigint AS agents FROM seen_counts GROUP BY 1, 2;
CREATE TEMP TABLE folded_outcomes AS
    SELECT channel, target_epoch, result, sum(outcomes)::bigint AS outcomes FROM outcome_counts GROUP BY 1, 2, 3;
TRUNCATE fleet_counts, seen_counts, outcome_counts;

ALTER TABLE fleet_counts DROP CONSTRAINT fleet_counts_pkey, DROP COLUMN shard,
    ADD PRIMARY KEY (channel, version, health);
ALTER TABLE seen_counts DROP CONSTRAINT seen_counts_pkey, DROP COLUMN shard,
    ADD PRIMARY KEY (channel, bucket);
ALTER TABLE outcome_counts DROP CONSTRAINT outcome_counts_pkey, DROP COLUMN shard,
    ADD PRIMARY KEY (channel, target_epoch, result);

INSERT INTO fleet_counts SELECT * FROM folded_fleet WHERE agents <> 0;
INSERT INTO seen_counts SELECT * FROM folded_seen WHERE agents <> 0;
INSERT INTO outcome_counts SELECT * FROM folded_outcomes WHERE outcomes <> 0;
DROP TABLE folded_fleet, folded_seen, folded_outcomes;

ALTER TABLE update_events ALTER COLUMN host_id TYPE text COLLATE "default";
ALTER TABLE agents ALTER COLUMN host_id TYPE text COLLATE "default";
