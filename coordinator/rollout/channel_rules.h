// The rules operators' changes to a channel must obey. Each function edits a
// channel in place and appends what it changed, or refuses with a status that
// names the offending values; nothing is edited on refusal.
#pragma once

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "common/maintenance_window.h"
#include "common/semver.h"
#include "coordinator/rollout/model.h"

namespace drover::rollout {

// `target` empty clears the target. Refused (FailedPrecondition) when the
// target breaks the version rules against the channel's control plane, or is
// below the current target without `allow_downgrade`.
absl::Status SetTarget(Channel& channel, const std::optional<Semver>& target, bool allow_downgrade,
                       std::vector<ChannelChange>& changes);

// Raising needs a reason (InvalidArgument without one).
absl::Status SetCritical(Channel& channel, bool critical, const std::string& reason,
                         std::vector<ChannelChange>& changes);

// Refused when the current target would break the rules against the new
// control-plane version.
absl::Status SetControlPlane(Channel& channel, const Semver& control_plane,
                             std::vector<ChannelChange>& changes);

absl::Status SetWindows(Channel& channel, const std::vector<MaintenanceWindow>& windows,
                        std::vector<ChannelChange>& changes);

std::string WindowsToString(const std::vector<MaintenanceWindow>& windows);

}  // namespace drover::rollout
