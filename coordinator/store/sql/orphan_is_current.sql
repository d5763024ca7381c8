-- Fragment: `orphan` (a row of orphan_hosts) is an orphan now: its latest
-- report, at most $1 seconds old (rollout::kOrphanVisibleFor), named a
-- channel that still does not exist, and no report for an existing channel
-- came since.
orphan.last_seen >= now() - $1 * interval '1 second'
AND NOT EXISTS (SELECT 1 FROM channels AS chan WHERE chan.name = orphan.channel)
AND NOT EXISTS (SELECT 1 FROM agents AS agent
                WHERE agent.host_id = orphan.host_id AND agent.last_seen >= orphan.last_seen)
