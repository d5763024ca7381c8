-- Fragment: rollout::IsStale for `agent` of channel `chan`. Last seen before
-- now - $1 poll intervals (rollout::kStaleAfterPollIntervals), rounded down
-- to a seen bucket of $2 ms (rollout::kSeenBucket) so that lists agree with
-- the seen_counts buckets.
agent.last_seen < date_bin($2 * interval '1 millisecond',
                           now() - chan.poll_interval_ms * $1 * interval '1 millisecond', 'epoch')
