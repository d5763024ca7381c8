#include "coordinator/rollout/target_epoch.h"

#include <algorithm>

namespace drover::rollout {

int64_t InitialTargetEpoch(const Channel& channel) { return channel.target_version.has_value() ? 1 : 0; }

bool StartsTargetEpoch(const std::vector<ChannelChange>& changes) {
  return std::any_of(changes.begin(), changes.end(),
                     [](const ChannelChange& change) { return change.starts_target_epoch; });
}

int64_t OutcomeTargetEpoch(const Channel& channel, const UpdateOutcome& outcome) {
  if (channel.target_epoch == 0 || !channel.target_updated_at.has_value()) return channel.target_epoch;
  if (outcome.to_version == channel.target_version &&
      outcome.finish_time >= *channel.target_updated_at - kOutcomeClockAllowance) {
    return channel.target_epoch;
  }
  return channel.target_epoch - 1;
}

}  // namespace drover::rollout
