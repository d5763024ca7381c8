-- Ingest writes a whole batch in one statement. Two changes make that cheap:
--
-- Host ids compare bytewise. Under a linguistic collation (the cluster's
-- default, e.g. C.UTF-8) every B-tree comparison on the agents key went
-- through strcoll; ids are machine identifiers, not words.
ALTER TABLE agents ALTER COLUMN host_id TYPE text COLLATE "C";
ALTER TABLE update_events ALTER COLUMN host_id TYPE text COLLATE "C";

-- Counters are split into shards (one per writing connection, chosen as
-- backend pid % 32), so concurrent batches do not queue on the same counter
-- row until the other commits. Readers sum over shards; a shard row alone may
-- be negative. The coordinator folds shards back into shard 0 periodically.
ALTER TABLE fleet_counts ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE fleet_counts DROP CONSTRAINT fleet_counts_pkey,
    ADD PRIMARY KEY (channel, version, health, shard);
ALTER TABLE seen_counts ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE seen_counts DROP CONSTRAINT seen_counts_pkey,
    ADD PRIMARY KEY (channel, bucket, shard);
ALTER TABLE outcome_counts ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE outcome_counts DROP CONSTRAINT outcome_counts_pkey,
    ADD PRIMARY KEY (channel, target_epoch, result, shard);
