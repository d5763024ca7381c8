-- A channel's hosts in an instance conflict: last A-B-A report at most $2 ms
-- old (rollout::InstanceConflictFor the channel). Few hosts are in conflict,
-- and only they are in the partial index this reads. $1 channel.
SELECT count(*) AS hosts
FROM agents
WHERE channel = $1
  AND instance_conflict_at IS NOT NULL
  AND instance_conflict_at >= now() - $2 * interval '1 millisecond'
