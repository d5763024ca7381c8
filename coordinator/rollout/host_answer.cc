#include "coordinator/rollout/host_answer.h"

namespace drover::rollout {

bool AnswersPerHost(const Channel& channel) {
  return channel.rollout_mode != Channel::RolloutMode::kNone || channel.rollout_catch_all_off;
}

// Mirrors UpdaterService::GetTarget (TargetToProto, then the per-host
// override): a difference would wake hosts for nothing, or not at all.
AnswerFields HostAnswer(const Channel& channel, const RolloutView* view, absl::string_view host_id,
                        absl::string_view group) {
  AnswerFields a;
  a.target_version = channel.target_version.value_or("");
  a.critical = channel.critical;
  a.downgrade_allowed = channel.target_allows_downgrade;
  a.control_plane_version = channel.control_plane_version;
  a.maintenance_windows = channel.maintenance_windows;
  a.poll_interval = channel.poll_interval;
  a.channel_generation = channel.generation;
  if (AnswersPerHost(channel) && view != nullptr) {
    const HostTarget t = TargetFor(channel, *view, host_id, group);
    a.target_version = t.version;
    a.downgrade_allowed = t.downgrade_allowed;
    a.held_back = t.held_back;
    if (t.held_back) a.critical = false;
  }
  return a;
}

}  // namespace drover::rollout
