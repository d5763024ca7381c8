-- One group of a rollout as a step (or the start) left it. Times as Unix
-- microseconds (NULL: unset). The windows are written only with a new row:
-- a rollout keeps the groups it started with.
-- $1 rollout id  $2 position  $3 name  $4 state  $5 state_since
-- $6 started_at  $7 bake_until  $8 done_at  $9 reason  $10 windows
INSERT INTO rollout_groups (rollout_id, position, name, state, state_since, started_at, bake_until, done_at,
                            reason, windows)
VALUES ($1, $2, $3, $4,
        timestamptz 'epoch' + $5::bigint * interval '1 microsecond',
        timestamptz 'epoch' + $6::bigint * interval '1 microsecond',
        timestamptz 'epoch' + $7::bigint * interval '1 microsecond',
        timestamptz 'epoch' + $8::bigint * interval '1 microsecond',
        $9, $10)
ON CONFLICT (rollout_id, position) DO UPDATE SET
    name = excluded.name,
    state = excluded.state,
    state_since = excluded.state_since,
    started_at = excluded.started_at,
    bake_until = excluded.bake_until,
    done_at = excluded.done_at,
    reason = excluded.reason
