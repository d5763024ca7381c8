-- Lets hosts in. A host withdrawn before is let in afresh (its failure, if
-- any, stays: failures count once per host); one let in already is left
-- alone. $1 rollout id  $2 host ids (text[], no repeats)  $3 group positions
-- (integer[])  $4 canary (boolean[])  $5 when (Unix microseconds)
INSERT INTO rollout_hosts (rollout_id, host_id, position, canary, admitted_at)
SELECT $1, h.host_id, h.position, h.canary, timestamptz 'epoch' + $5::bigint * interval '1 microsecond'
FROM unnest($2::text[], $3::integer[], $4::boolean[]) AS h (host_id, position, canary)
ON CONFLICT (rollout_id, host_id) DO UPDATE SET
    position = excluded.position,
    canary = excluded.canary,
    admitted_at = excluded.admitted_at,
    withdrawn_at = NULL
WHERE rollout_hosts.withdrawn_at IS NOT NULL
