-- Staged rollouts (coordinator/rollout/staged.h): a channel's rollout policy,
-- each rollout a new target starts, its groups, and the hosts it let in.

-- A channel's policy; a channel without a row rolls out with the defaults of
-- rollout::RolloutPolicy. Amounts are stored as Amount::ToString ("3",
-- "2.5%"); groups one a row in rollout_policy_groups.
CREATE TABLE rollout_policies (
    channel           text PRIMARY KEY REFERENCES channels (name) ON DELETE CASCADE,
    catch_all         smallint NOT NULL CHECK (catch_all IN (1, 2)),  -- last group, off
    canaries          text NOT NULL,
    canary_budget     text NOT NULL,
    group_budget      text NOT NULL,
    done_percent      double precision NOT NULL CHECK (done_percent > 0 AND done_percent <= 100),
    bake_ms           bigint NOT NULL CHECK (bake_ms >= 0),
    canary_watch_ms   bigint NOT NULL CHECK (canary_watch_ms >= 0),
    max_in_flight     bigint NOT NULL CHECK (max_in_flight >= 0),
    max_per_period    bigint NOT NULL CHECK (max_per_period >= 0),
    period_ms         bigint NOT NULL CHECK (period_ms > 0),
    silent_timeout_ms bigint NOT NULL CHECK (silent_timeout_ms > 0),
    auto_rollback     boolean NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rollout_policy_groups (
    channel  text NOT NULL REFERENCES rollout_policies (channel) ON DELETE CASCADE,
    position integer NOT NULL CHECK (position >= 0),
    name     text NOT NULL,
    -- As channels.maintenance_windows (EncodeWindows); '' for any time.
    windows  text NOT NULL DEFAULT '',
    PRIMARY KEY (channel, position),
    UNIQUE (channel, name)
);

-- One row per target a channel was given. The newest of a channel is its
-- current rollout (channels.rollout_id). generation grows with every write:
-- the engine writes only if it is still the one it read.
CREATE TABLE rollouts (
    id             bigserial PRIMARY KEY,
    channel        text NOT NULL REFERENCES channels (name) ON DELETE CASCADE,
    start_version  text NOT NULL,        -- '' : no previous target
    target_version text NOT NULL,
    -- active, paused, halted, rolled back, done, superseded
    state          smallint NOT NULL CHECK (state BETWEEN 1 AND 6),
    reason         text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    state_since    timestamptz NOT NULL,
    skip_canaries  boolean NOT NULL DEFAULT false,
    force_reason   text NOT NULL DEFAULT '',
    -- The last resume from a halt: budgets count failures after it only.
    resumed_at     timestamptz,
    generation     bigint NOT NULL DEFAULT 1,
    -- Started under a policy without groups: its one group holds every host
    -- of the channel, whatever group they report.
    ungrouped      boolean NOT NULL DEFAULT false
);
CREATE INDEX rollouts_channel_idx ON rollouts (channel, id);
-- The engine's work list: rollouts it still advances or holds.
CREATE INDEX rollouts_live_idx ON rollouts (id) WHERE state IN (1, 2, 3);

CREATE TABLE rollout_groups (
    rollout_id  bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    position    integer NOT NULL CHECK (position >= 0),
    name        text NOT NULL,
    -- unstarted, canary, active, baking, done, halted, rolled back
    state       smallint NOT NULL CHECK (state BETWEEN 1 AND 7),
    state_since timestamptz NOT NULL,
    started_at  timestamptz,
    bake_until  timestamptz,
    done_at     timestamptz,
    reason      text NOT NULL DEFAULT '',
    -- The group's windows as the policy had them when the rollout started
    -- (as rollout_policy_groups.windows): a rollout keeps its groups.
    windows     text NOT NULL DEFAULT '',
    PRIMARY KEY (rollout_id, position)
);

-- Hosts a rollout let in (canaries and members of active groups): they are
-- told the target. A withdrawn admission (a canary gone stale before
-- updating, a host not yet updated when the rollout halted) is kept with
-- withdrawn_at set. failed_at is set once, the first time the host counts as
-- failed (rollout::HostFailure): failures count per host.
CREATE TABLE rollout_hosts (
    rollout_id   bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    host_id      text COLLATE "C" NOT NULL,  -- as agents.host_id (000003): joins use its index
    position     integer NOT NULL,
    canary       boolean NOT NULL,
    admitted_at  timestamptz NOT NULL,
    withdrawn_at timestamptz,
    failed_at    timestamptz,
    failure      text NOT NULL DEFAULT '',
    PRIMARY KEY (rollout_id, host_id)
);
CREATE INDEX rollout_hosts_admitted_idx ON rollout_hosts (rollout_id, admitted_at);

-- The rollout store maps the group names a channel's agents report onto the
-- rollout's groups (rollout::GroupIndexOf): it reads the distinct names, and
-- then the agents of each, through this index. group_name seldom changes, so
-- ingest updates stay HOT.
CREATE INDEX agents_channel_group_idx ON agents (channel, group_name);

-- The channel's current rollout, and what its signed answer says about it
-- (TargetMetadata.rollout_*): written with the rollout in one transaction,
-- bumping the channel's generation, so caches and signers see it.
ALTER TABLE channels
    ADD COLUMN rollout_id bigint REFERENCES rollouts (id) ON DELETE SET NULL,
    ADD COLUMN rollout_start_version text NOT NULL DEFAULT '',
    -- 0 no live rollout (every host gets the target), 1 some hosts are held
    -- on the start version, 2 rolled back (the start version, downgrade allowed)
    ADD COLUMN rollout_mode smallint NOT NULL DEFAULT 0 CHECK (rollout_mode IN (0, 1, 2)),
    -- The channel's rollout policy turns the catch-all off: hosts in no
    -- listed group are told nothing to install, rollout or not. A copy of
    -- the policy's setting and group names (comma-separated; group names
    -- have no comma) that GetTarget and the signed answer read with the
    -- channel.
    ADD COLUMN rollout_catch_all_off boolean NOT NULL DEFAULT false,
    ADD COLUMN rollout_listed_groups text NOT NULL DEFAULT '';

-- The version an updater said it started installing (ReportStatusRequest.
-- updating_to), until a report without it: status counts hosts updating.
ALTER TABLE agents ADD COLUMN updating_to text NOT NULL DEFAULT '';
