-- Writes a channel's rollout policy (its groups: staged_policy_groups_*).
-- $1 channel  $2 catch_all  $3 canaries  $4 canary_budget  $5 group_budget
-- (amounts as rollout::Amount::ToString)  $6 done_percent  $7 bake_ms
-- $8 max_in_flight  $9 max_per_period  $10 period_ms  $11 silent_timeout_ms
-- $12 auto_rollback  $13 canary_watch_ms
-- $14 is the text 'now' (kNowParameter): Citus refuses now() in DO UPDATE SET.
INSERT INTO rollout_policies (channel, catch_all, canaries, canary_budget, group_budget, done_percent, bake_ms,
                              max_in_flight, max_per_period, period_ms, silent_timeout_ms, auto_rollback,
                              canary_watch_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (channel) DO UPDATE SET
    catch_all = excluded.catch_all,
    canaries = excluded.canaries,
    canary_budget = excluded.canary_budget,
    group_budget = excluded.group_budget,
    done_percent = excluded.done_percent,
    bake_ms = excluded.bake_ms,
    canary_watch_ms = excluded.canary_watch_ms,
    max_in_flight = excluded.max_in_flight,
    max_per_period = excluded.max_per_period,
    period_ms = excluded.period_ms,
    silent_timeout_ms = excluded.silent_timeout_ms,
    auto_rollback = excluded.auto_rollback,
    updated_at = $14::timestamptz
