-- Marks hosts failed, once each (a host counted already keeps its first
-- failure). $1 rollout id  $2 host ids (text[])  $3 why (text[])
-- $4 when (Unix microseconds)
UPDATE rollout_hosts AS rh SET
    failed_at = timestamptz 'epoch' + $4::bigint * interval '1 microsecond',
    failure = f.failure
FROM unnest($2::text[], $3::text[]) AS f (host_id, failure)
WHERE rh.rollout_id = $1 AND rh.host_id = f.host_id AND rh.failed_at IS NULL
