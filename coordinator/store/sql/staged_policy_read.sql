-- A channel's own rollout policy (no row: the defaults). $1 channel.
SELECT catch_all, canaries, canary_budget, group_budget, done_percent, bake_ms, canary_watch_ms,
       max_in_flight,
       max_per_period, period_ms, silent_timeout_ms, auto_rollback
FROM rollout_policies
WHERE channel = $1
