-- What operators need to see about hosts beyond version and health: which
-- updater instance reported (a host id reported by two instances is a cloned
-- id), what the updater knows of its maintenance schedule, the result of its
-- last update attempt, and hosts that report for a channel that does not exist.
--
-- Constant defaults: adding these columns rewrites nothing.
ALTER TABLE agents
    ADD COLUMN instance_id text NOT NULL DEFAULT '',
    -- The instance that reported before the current one.
    ADD COLUMN previous_instance_id text NOT NULL DEFAULT '',
    -- Last time an instance reported again after another one had (A, B, A):
    -- two live updaters share the id. One change of instance (a reinstalled
    -- host) is not a conflict.
    ADD COLUMN instance_conflict_at timestamptz,
    ADD COLUMN schedule_state smallint NOT NULL DEFAULT 0,   -- drover.v1.ScheduleState
    ADD COLUMN last_result smallint,                         -- NULL: no attempt reported
    ADD COLUMN last_result_version text;

-- Partial: only hosts in conflict are in it, so reports of every other host
-- leave it alone and stay HOT updates.
CREATE INDEX agents_instance_conflict_idx ON agents (instance_conflict_at) WHERE instance_conflict_at IS NOT NULL;

-- Agents per (channel, schedule state), kept by ingest like fleet_counts
-- (sharded the same way); a report whose state did not change writes nothing.
CREATE TABLE schedule_counts (
    channel text NOT NULL REFERENCES channels (name) ON DELETE CASCADE,
    state   smallint NOT NULL,
    shard   smallint NOT NULL DEFAULT 0,
    agents  bigint NOT NULL,
    PRIMARY KEY (channel, state, shard)
);
INSERT INTO schedule_counts (channel, state, shard, agents)
SELECT channel, 0, 0, count(*) FROM agents GROUP BY channel;

-- Hosts whose latest report named a channel that does not exist (deleted or
-- mistyped): one row per host, written only by such reports, so reports for
-- existing channels never touch it. Old rows are purged with the counter
-- compaction.
CREATE TABLE orphan_hosts (
    host_id         text COLLATE "C" PRIMARY KEY,
    channel         text NOT NULL,
    group_name      text NOT NULL,
    current_version text NOT NULL,
    health          smallint NOT NULL,
    instance_id     text NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL
);
