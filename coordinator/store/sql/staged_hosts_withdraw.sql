-- Withdraws admissions (canaries gone stale before updating): the hosts are
-- told the start version again. $1 rollout id  $2 host ids (text[])
-- $3 when (Unix microseconds)
UPDATE rollout_hosts SET withdrawn_at = timestamptz 'epoch' + $3::bigint * interval '1 microsecond'
WHERE rollout_id = $1 AND host_id = ANY ($2::text[]) AND withdrawn_at IS NULL
