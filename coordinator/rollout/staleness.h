// When an agent is stale. The store counts agents per (channel, kSeenBucket of
// last_seen) instead of indexing last_seen (seen_counts, migration 000002), so
// the cutoff is rounded down to a bucket boundary: a listed agent and the
// counted ones then agree. The SQL in coordinator/store/sql/ takes both
// constants as parameters.
#pragma once

#include "absl/time/time.h"
#include "common/api_limits.h"
#include "coordinator/rollout/model.h"

namespace drover::rollout {

// Agents silent for this many poll intervals of their channel are stale
// (common/api_limits.h: droverctl's help says so too).
using ::drover::kStaleAfterPollIntervals;

// The granularity of the last-seen counters, and so of the stale cutoff.
// Migration 000002 (history, not edited) filled the first buckets with this
// width written out as 10.
inline constexpr absl::Duration kSeenBucket = absl::Seconds(10);

absl::Duration StaleAfter(absl::Duration poll_interval);
inline absl::Duration StaleAfter(const Channel& c) { return StaleAfter(c.poll_interval); }

// The start of the kSeenBucket bucket holding `t` (buckets count from the Unix
// epoch).
absl::Time SeenBucket(absl::Time t);

// Agents last seen before this are stale at `now`.
absl::Time StaleCutoff(absl::Duration poll_interval, absl::Time now);

bool IsStale(absl::Time last_seen, absl::Duration poll_interval, absl::Time now);

}  // namespace drover::rollout
