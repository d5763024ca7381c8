-- Fragment: the columns a rollout is decoded from (pg_rollouts.cc), times as
-- Unix microseconds. Over the rollouts table alone.
id,
channel,
start_version,
target_version,
state,
reason,
(extract(epoch FROM (created_at - 'epoch'::timestamptz)) * 1000000)::bigint AS created_at_us,
(extract(epoch FROM (state_since - 'epoch'::timestamptz)) * 1000000)::bigint AS state_since_us,
skip_canaries,
force_reason,
(extract(epoch FROM (resumed_at - 'epoch'::timestamptz)) * 1000000)::bigint AS resumed_at_us,
generation,
ungrouped
