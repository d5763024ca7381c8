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

// Fills in what a channel about to be created derives from its settings: its
// first target epoch (InitialTargetEpoch) and, with a target, the last
// target. The store writes the channel as this leaves it.
// A channel created following its control plane gets the control-plane
// version as its target (ValidateNewFollowingChannel first).
void PrepareNewChannel(Channel& channel);

// InvalidArgument when a channel to be created follows its control plane
// and names a target other than the control-plane version.
absl::Status ValidateNewFollowingChannel(const Channel& channel);

// `target` empty clears the target. Sets and clears start a new target epoch
// (ChannelChange::starts_target_epoch). The rule for last_target_version and
// last_target_allows_downgrade: the store persists them as this leaves them.
// (The database trigger channels_keep_last_target, migrations 000004/000006,
// still computes the same last_target_version for replicas of the previous
// release during a rolling upgrade, which do not write it; a later migration
// drops it. Change this rule and the trigger together until then.) Refused (FailedPrecondition) when the
// target breaks the version rules against the channel's control plane, or is
// a roll-back without `allow_downgrade`: below the current target, or, with
// the target cleared, below the last one or equal to a last one that was
// itself a roll-back.
absl::Status SetTarget(Channel& channel, const std::optional<Semver>& target, bool allow_downgrade,
                       std::vector<ChannelChange>& changes);

// Raising needs a reason with something visible in it (InvalidArgument
// without one); the reason is kept without surrounding blanks. Lowering a
// lowered toggle changes nothing, whatever its reason.
absl::Status SetCritical(Channel& channel, bool critical, const std::string& reason,
                         std::vector<ChannelChange>& changes);

// Refused when the current target would break the rules against the new
// control-plane version. On a channel that follows its control plane the
// target moves with it instead (a new target: a staged rollout starts; a
// lower control plane is a roll-back, downgrade allowed).
absl::Status SetControlPlane(Channel& channel, const Semver& control_plane,
                             std::vector<ChannelChange>& changes);

// Following on: the target becomes the control-plane version now (when it
// is not already) and from then on moves with it; SetTarget is refused.
// Off: the target stays as it is and is set by hand again.
absl::Status SetFollowsControlPlane(Channel& channel, bool follows, std::vector<ChannelChange>& changes);

absl::Status SetWindows(Channel& channel, const std::vector<MaintenanceWindow>& windows,
                        std::vector<ChannelChange>& changes);

// InvalidArgument unless `interval` is whole milliseconds within
// [kMinPollInterval, kMaxPollInterval].
absl::Status ValidatePollInterval(absl::Duration interval);

absl::Status SetPollInterval(Channel& channel, absl::Duration interval, std::vector<ChannelChange>& changes);

std::string WindowsToString(const std::vector<MaintenanceWindow>& windows);

}  // namespace drover::rollout
