// Rollout status of a channel, computed from its fleet counters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/rollout/model.h"

namespace drover::rollout {

struct VersionSummary {
  std::string version;
  int64_t agents = 0;
  int64_t healthy = 0;
  int64_t unhealthy = 0;
  bool on_target = false;
  bool out_of_policy = false;
  std::string out_of_policy_reason;
};

struct RolloutStatus {
  std::string channel;
  std::optional<std::string> target_version;
  bool critical = false;
  std::string control_plane_version;
  int64_t total_agents = 0;
  std::vector<VersionSummary> versions;  // newest first
  int64_t on_target = 0;
  int64_t healthy = 0;
  int64_t unhealthy = 0;
  int64_t stale = 0;
  int64_t out_of_policy = 0;
  int64_t succeeded_since_target = 0;
  int64_t failed_since_target = 0;
  int64_t rolled_back_since_target = 0;
  double percent_on_target = 0;
  std::optional<absl::Time> target_updated_at;
};

// Out-of-policy versions are those breaking the version rules against the
// channel's control-plane version; a stored version that does not parse (it
// was valid when stored, so only a schema change could cause it) counts as out
// of policy rather than being hidden.
RolloutStatus ComputeRolloutStatus(const Channel& channel,
                                   const std::vector<VersionHealthCount>& counts,
                                   const std::vector<OutcomeCount>& outcomes_since_target,
                                   int64_t stale_agents);

// Why `version` breaks the version rules of `control_plane_version`; empty
// when it does not. The one evaluation of the rule for stored versions: the
// rollout status, the agent views and the out-of-policy filter all use it.
std::string OutOfPolicyReasonFor(const std::string& version, const std::string& control_plane_version);

// Which of `versions` break the version rules of `control_plane_version`.
std::vector<std::string> OutOfPolicyVersions(const std::vector<std::string>& versions,
                                             const std::string& control_plane_version);

}  // namespace drover::rollout
