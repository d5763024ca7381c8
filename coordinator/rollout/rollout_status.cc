#include "coordinator/rollout/rollout_status.h"

#include <algorithm>
#include <map>

#include "common/semver.h"
#include "common/version_policy.h"

namespace drover::rollout {
namespace {

// Empty when in policy.
std::string PolicyReason(const std::string& version, const absl::StatusOr<Semver>& cp) {
  if (!cp.ok()) return "control-plane version unknown";
  absl::StatusOr<Semver> v = Semver::Parse(version);
  if (!v.ok()) return "not a valid version";
  return OutOfPolicyReason(*v, *cp);
}

}  // namespace

std::string OutOfPolicyReasonFor(const std::string& version, const std::string& control_plane_version) {
  return PolicyReason(version, Semver::Parse(control_plane_version));
}

std::vector<std::string> OutOfPolicyVersions(const std::vector<std::string>& versions,
                                             const std::string& control_plane_version) {
  absl::StatusOr<Semver> cp = Semver::Parse(control_plane_version);
  std::vector<std::string> out;
  for (const std::string& v : versions) {
    if (!PolicyReason(v, cp).empty()) out.push_back(v);
  }
  return out;
}

RolloutStatus ComputeRolloutStatus(const Channel& channel,
                                   const std::vector<VersionHealthCount>& counts,
                                   const std::vector<OutcomeCount>& outcomes_since_target,
                                   int64_t stale_agents) {
  RolloutStatus s;
  s.channel = channel.id;
  s.target_version = channel.target_version;
  s.critical = channel.critical;
  s.control_plane_version = channel.control_plane_version;
  s.target_updated_at = channel.target_updated_at;
  s.stale = stale_agents;

  std::map<std::string, VersionSummary> by_version;
  for (const VersionHealthCount& c : counts) {
    if (c.agents == 0) continue;
    VersionSummary& v = by_version[c.version];
    v.version = c.version;
    v.agents += c.agents;
    (c.health == Health::kHealthy ? v.healthy : v.unhealthy) += c.agents;
  }

  absl::StatusOr<Semver> cp = Semver::Parse(channel.control_plane_version);
  for (auto& [name, v] : by_version) {
    v.on_target = channel.target_version.has_value() && *channel.target_version == name;
    v.out_of_policy_reason = PolicyReason(name, cp);
    v.out_of_policy = !v.out_of_policy_reason.empty();
    s.total_agents += v.agents;
    s.healthy += v.healthy;
    s.unhealthy += v.unhealthy;
    if (v.on_target) s.on_target += v.agents;
    if (v.out_of_policy) s.out_of_policy += v.agents;
    s.versions.push_back(v);
  }
  // Newest first; unparseable versions last, by name.
  std::sort(s.versions.begin(), s.versions.end(), [](const VersionSummary& a, const VersionSummary& b) {
    absl::StatusOr<Semver> va = Semver::Parse(a.version), vb = Semver::Parse(b.version);
    if (va.ok() != vb.ok()) return va.ok();
    if (va.ok()) {
      int c = va->Compare(*vb);
      if (c != 0) return c > 0;
    }
    return a.version < b.version;
  });

  for (const OutcomeCount& o : outcomes_since_target) {
    switch (o.result) {
      case UpdateResult::kSucceeded: s.succeeded_since_target += o.outcomes; break;
      case UpdateResult::kFailed: s.failed_since_target += o.outcomes; break;
      case UpdateResult::kRolledBack: s.rolled_back_since_target += o.outcomes; break;
    }
  }
  s.percent_on_target =
      s.total_agents == 0 ? 0.0 : 100.0 * static_cast<double>(s.on_target) / s.total_agents;
  return s;
}

}  // namespace drover::rollout
