-- Fragment: `agent` is in an instance conflict (rollout::ApplyInstance) while
-- its last A-B-A report is at most $3 poll intervals of channel `chan` old
-- (rollout::kInstanceConflictPollIntervals).
agent.instance_conflict_at >= now() - chan.poll_interval_ms * $3 * interval '1 millisecond'
