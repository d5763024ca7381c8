-- Channels, agents, their update history and operator changes, plus the
-- counters that keep rollout status fast for channels of a million agents.

CREATE TABLE channels (
    name                    text PRIMARY KEY,
    target_version          text,                 -- NULL: no target ("none")
    target_allows_downgrade boolean NOT NULL DEFAULT false,
    target_updated_at       timestamptz,
    -- Grows with every SetTargetVersion; outcome counters are kept per epoch
    -- so "failures since the target was set" is one row read.
    target_epoch            bigint NOT NULL DEFAULT 0,
    critical                boolean NOT NULL DEFAULT false,
    critical_reason         text NOT NULL DEFAULT '',
    critical_updated_at     timestamptz,
    control_plane_version   text NOT NULL,
    -- Windows as "<weekdays>/<utc_start_hour>/<minutes>" joined by ';', weekdays
    -- as digits 1 (Monday)..7, "*" for every day: "135/2/60;*/22/30".
    maintenance_windows     text NOT NULL DEFAULT '',
    poll_interval_ms        bigint NOT NULL DEFAULT 60000 CHECK (poll_interval_ms > 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    generation              bigint NOT NULL DEFAULT 1
);

-- Current state, one row per host.
CREATE TABLE agents (
    host_id         text PRIMARY KEY,
    channel         text NOT NULL REFERENCES channels (name),
    group_name      text NOT NULL DEFAULT '',
    current_version text NOT NULL,
    health          smallint NOT NULL CHECK (health IN (1, 2)),   -- 1 healthy, 2 unhealthy
    updater_version text NOT NULL DEFAULT '',
    sequence        bigint NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL
);
CREATE INDEX agents_channel_host_idx ON agents (channel, host_id);
-- Stale agents are the ones at the old end of this index.
CREATE INDEX agents_channel_last_seen_idx ON agents (channel, last_seen);

-- Append-only history of update outcomes.
CREATE TABLE update_events (
    id              bigserial PRIMARY KEY,
    host_id         text NOT NULL,
    channel         text NOT NULL,
    from_version    text NOT NULL,
    to_version      text NOT NULL,
    result          smallint NOT NULL CHECK (result IN (1, 2, 3)), -- succeeded, failed, rolled_back
    error           text NOT NULL DEFAULT '',
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    report_sequence bigint NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX update_events_host_idx ON update_events (host_id, id);
CREATE INDEX update_events_channel_idx ON update_events (channel, recorded_at);

-- What operators changed on channels. actor is NULL until identities exist.
CREATE TABLE channel_changes (
    id         bigserial PRIMARY KEY,
    channel    text NOT NULL,
    field      text NOT NULL,
    old_value  text,
    new_value  text,
    actor      text,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channel_changes_channel_idx ON channel_changes (channel, id);

-- Agents per (channel, version, health), maintained by every ingest batch in
-- the same transaction as the agents rows it summarises.
CREATE TABLE fleet_counts (
    channel text NOT NULL REFERENCES channels (name) ON DELETE CASCADE,
    version text NOT NULL,
    health  smallint NOT NULL,
    -- Kept >= 0 by construction; an upsert of a negative delta cannot carry a
    -- CHECK (PostgreSQL checks the proposed row before resolving the conflict).
    agents  bigint NOT NULL,
    PRIMARY KEY (channel, version, health)
);

-- Update outcomes per (channel, target epoch, result).
CREATE TABLE outcome_counts (
    channel      text NOT NULL REFERENCES channels (name) ON DELETE CASCADE,
    target_epoch bigint NOT NULL,
    result       smallint NOT NULL,
    outcomes     bigint NOT NULL,
    PRIMARY KEY (channel, target_epoch, result)
);
