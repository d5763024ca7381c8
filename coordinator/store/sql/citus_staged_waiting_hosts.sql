-- staged_waiting_hosts.sql for Citus, one group at a time ($7 its index): Citus runs
-- no LIMIT in a lateral subquery over a table function. Each shard returns
-- its $6 hosts of the smallest random keys, and the coordinator node keeps
-- the $6 smallest of those: a uniform sample, as on plain PostgreSQL.
SELECT $7::integer AS idx, a.host_id
FROM agents AS a
WHERE a.channel = $1
  AND a.group_name = ANY (ARRAY(SELECT m.name FROM unnest($2::text[], $3::integer[]) AS m (name, idx)
                                WHERE m.idx = $7::integer))
  AND a.last_seen >= timestamptz 'epoch' + $4::bigint * interval '1 microsecond'
  AND NOT EXISTS (SELECT 1 FROM rollout_hosts AS rh
                  WHERE rh.rollout_id = $5 AND rh.host_id = a.host_id
                    AND (rh.withdrawn_at IS NULL OR rh.failed_at IS NOT NULL))
ORDER BY random()
LIMIT $6
