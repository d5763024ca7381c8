#include "agent-updater/target/answer_tag_of.h"

#include "common/answer_tag.h"
#include "proto/wire/time.h"

namespace drover::updater {

// The fields the coordinator tags (rollout::HostAnswer), as received:
// server_time and the signature are left out on both sides.
std::string AnswerTagOf(const v1::GetTargetResponse& answer) {
  AnswerFields a;
  a.target_version = answer.target_version();
  a.critical = answer.critical();
  a.downgrade_allowed = answer.downgrade_allowed();
  a.held_back = answer.held_back();
  a.control_plane_version = answer.control_plane_version();
  for (const v1::MaintenanceWindow& w : answer.maintenance_windows()) {
    a.maintenance_windows.push_back(wire::WindowFromProto(w));
  }
  a.poll_interval = wire::DurationFromProto(answer.poll_interval());
  a.channel_generation = answer.channel_generation();
  return AnswerTag(a);
}

}  // namespace drover::updater
