#include "coordinator/rollout/staleness.h"

namespace drover::rollout {

absl::Duration StaleAfter(absl::Duration poll_interval) { return kStaleAfterPollIntervals * poll_interval; }

absl::Time SeenBucket(absl::Time t) {
  return absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(), kSeenBucket);
}

absl::Time StaleCutoff(absl::Duration poll_interval, absl::Time now) {
  return SeenBucket(now - StaleAfter(poll_interval));
}

bool IsStale(absl::Time last_seen, absl::Duration poll_interval, absl::Time now) {
  return last_seen < StaleCutoff(poll_interval, now);
}

}  // namespace drover::rollout
