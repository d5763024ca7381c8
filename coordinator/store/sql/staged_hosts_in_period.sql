-- Hosts a rollout let in since a time (withdrawn ones too: they were let
-- in). $1 rollout id  $2 since (Unix microseconds)
SELECT count(*) AS hosts
FROM rollout_hosts
WHERE rollout_id = $1 AND admitted_at >= timestamptz 'epoch' + $2::bigint * interval '1 microsecond'
