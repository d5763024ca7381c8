-- Drops orphan rows nobody lists any more: older than $1 seconds
-- (rollout::kOrphanVisibleFor).
DELETE FROM orphan_hosts WHERE last_seen < now() - $1 * interval '1 second'
