#include "coordinator/rollout/channel_rules.h"

#include "absl/strings/str_cat.h"
#include "common/text.h"
#include "common/version_policy.h"
#include "coordinator/rollout/target_epoch.h"

namespace drover::rollout {

std::string WindowsToString(const std::vector<MaintenanceWindow>& windows) {
  if (windows.empty()) return "none";
  std::string out;
  for (const MaintenanceWindow& w : windows) {
    if (!out.empty()) out += "; ";
    out += w.ToString();
  }
  return out;
}

void PrepareNewChannel(Channel& channel) {
  if (channel.follows_control_plane) channel.target_version = channel.control_plane_version;
  channel.target_epoch = InitialTargetEpoch(channel);
  channel.last_target_version = channel.target_version;
  // A new channel has no earlier target to roll back from.
  channel.target_allows_downgrade = false;
  channel.last_target_allows_downgrade = false;
}

absl::Status ValidateNewFollowingChannel(const Channel& channel) {
  if (!channel.follows_control_plane || !channel.target_version.has_value() ||
      *channel.target_version == channel.control_plane_version) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "channel \"", channel.id, "\" follows its control plane, so its target is the control-plane version ",
      channel.control_plane_version, ", not ", *channel.target_version, ": leave the target out"));
}

namespace {

absl::Status ApplyTarget(Channel& channel, const std::optional<Semver>& target, bool allow_downgrade,
                         std::vector<ChannelChange>& changes);

}  // namespace

absl::Status SetTarget(Channel& channel, const std::optional<Semver>& target, bool allow_downgrade,
                       std::vector<ChannelChange>& changes) {
  if (channel.follows_control_plane) {
    return absl::FailedPreconditionError(absl::StrCat(
        "channel \"", channel.id, "\" follows its control plane (target = control-plane version ",
        channel.control_plane_version, "): set the control-plane version instead, or stop following it first"));
  }
  return ApplyTarget(channel, target, allow_downgrade, changes);
}

namespace {

absl::Status ApplyTarget(Channel& channel, const std::optional<Semver>& target, bool allow_downgrade,
                         std::vector<ChannelChange>& changes) {
  const std::string old_value = channel.target_version.value_or("none");
  if (!target.has_value()) {
    if (!channel.target_version.has_value()) return absl::OkStatus();
    channel.target_version.reset();
    channel.target_allows_downgrade = false;
    changes.push_back(
        {.field = "target_version", .old_value = old_value, .new_value = "none", .starts_target_epoch = true});
    return absl::OkStatus();
  }
  absl::StatusOr<Semver> cp = Semver::Parse(channel.control_plane_version);
  if (!cp.ok()) return absl::InternalError(absl::StrCat("channel \"", channel.id, "\": stored ", cp.status().message()));
  if (absl::Status s = CheckVersionPolicy(*target, *cp, "target version"); !s.ok()) return s;

  const std::string new_value = target->ToString();
  if (channel.target_version == new_value) return absl::OkStatus();
  // Compared with the current target or, when it was cleared, the last one:
  // clearing and then setting a lower target is a roll-back too.
  const std::optional<std::string>& reference =
      channel.target_version.has_value() ? channel.target_version : channel.last_target_version;
  bool downgrade = false;
  if (!channel.target_version.has_value() && channel.last_target_version == new_value &&
      channel.last_target_allows_downgrade) {
    // The cleared target was a roll-back: agents still above it come down
    // only if it is one again, so say so rather than silently drop it.
    if (!allow_downgrade) {
      return absl::FailedPreconditionError(absl::StrCat(
          "target version ", new_value, " is the last target (since cleared) of channel \"", channel.id,
          "\", which was a roll-back: pass allow_downgrade to roll back to it again, so that agents still on a "
          "newer version come down"));
    }
    downgrade = true;
  } else if (reference.has_value()) {
    absl::StatusOr<Semver> previous = Semver::Parse(*reference);
    downgrade = previous.ok() && *target < *previous;
    if (downgrade && !allow_downgrade) {
      return absl::FailedPreconditionError(absl::StrCat(
          "target version ", new_value, " is below the ",
          channel.target_version.has_value() ? "current target " : "last target (since cleared) ", *reference,
          " of channel \"", channel.id, "\": pass allow_downgrade to roll back on purpose"));
    }
  }
  channel.target_version = new_value;
  channel.last_target_version = new_value;
  channel.target_allows_downgrade = downgrade;
  channel.last_target_allows_downgrade = downgrade;
  changes.push_back({.field = "target_version",
                     .old_value = old_value,
                     .new_value = downgrade ? absl::StrCat(new_value, " (downgrade)") : new_value,
                     .starts_target_epoch = true,
                     .starts_rollout = true});
  return absl::OkStatus();
}

}  // namespace

absl::Status SetCritical(Channel& channel, bool critical, const std::string& reason_text,
                         std::vector<ChannelChange>& changes) {
  const std::string reason(TrimBlank(reason_text));
  if (critical && reason.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reason is required to raise the critical toggle of channel \"", channel.id, "\"",
        reason_text.empty() ? "" : " (the one given holds only blanks)",
        ": say why updaters must ignore maintenance windows"));
  }
  // A toggle already lowered stays as it was: a lowering reason alone is no change.
  if (!critical && !channel.critical) return absl::OkStatus();
  if (channel.critical == critical && channel.critical_reason == reason) return absl::OkStatus();
  changes.push_back({.field = "critical",
                     .old_value = channel.critical ? absl::StrCat("raised: ", channel.critical_reason) : "lowered",
                     .new_value = critical ? absl::StrCat("raised: ", reason)
                                           : (reason.empty() ? "lowered" : absl::StrCat("lowered: ", reason))});
  channel.critical = critical;
  channel.critical_reason = reason;
  return absl::OkStatus();
}

absl::Status SetControlPlane(Channel& channel, const Semver& control_plane, std::vector<ChannelChange>& changes) {
  const std::string new_value = control_plane.ToString();
  if (channel.follows_control_plane) {
    if (channel.control_plane_version == new_value && channel.target_version == new_value) return absl::OkStatus();
    Channel edited = channel;
    std::vector<ChannelChange> made;
    if (edited.control_plane_version != new_value) {
      made.push_back(
          {.field = "control_plane_version", .old_value = edited.control_plane_version, .new_value = new_value});
      edited.control_plane_version = new_value;
    }
    // The target moves with it, down too: agents must never run above it.
    if (absl::Status s = ApplyTarget(edited, control_plane, /*allow_downgrade=*/true, made); !s.ok()) return s;
    for (ChannelChange& c : made) {
      if (c.field == "target_version") c.new_value = absl::StrCat(c.new_value, " (follows the control plane)");
    }
    channel = std::move(edited);
    changes.insert(changes.end(), made.begin(), made.end());
    return absl::OkStatus();
  }
  if (channel.target_version.has_value()) {
    absl::StatusOr<Semver> target = Semver::Parse(*channel.target_version);
    if (target.ok()) {
      std::string reason = OutOfPolicyReason(*target, control_plane);
      if (!reason.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "control-plane version ", new_value, " would leave channel \"", channel.id, "\"'s target ",
            *channel.target_version, " out of policy (", reason, "): set a compatible target first"));
      }
    }
  }
  if (channel.control_plane_version == new_value) return absl::OkStatus();
  changes.push_back(
      {.field = "control_plane_version", .old_value = channel.control_plane_version, .new_value = new_value});
  channel.control_plane_version = new_value;
  return absl::OkStatus();
}

absl::Status SetFollowsControlPlane(Channel& channel, bool follows, std::vector<ChannelChange>& changes) {
  if (channel.follows_control_plane == follows) return absl::OkStatus();
  Channel edited = channel;
  std::vector<ChannelChange> made;
  made.push_back({.field = "follows_control_plane",
                  .old_value = follows ? "false" : "true",
                  .new_value = follows ? "true" : "false"});
  edited.follows_control_plane = follows;
  if (follows) {
    absl::StatusOr<Semver> cp = Semver::Parse(edited.control_plane_version);
    if (!cp.ok()) {
      return absl::InternalError(absl::StrCat("channel \"", edited.id, "\": stored ", cp.status().message()));
    }
    // At or above the current target (never above the control plane);
    // below only a target cleared before the control plane was lowered:
    // agents must never run above it, so that is a roll-back.
    if (absl::Status s = ApplyTarget(edited, *cp, /*allow_downgrade=*/true, made); !s.ok()) return s;
    for (ChannelChange& c : made) {
      if (c.field == "target_version") c.new_value = absl::StrCat(c.new_value, " (follows the control plane)");
    }
  }
  channel = std::move(edited);
  changes.insert(changes.end(), made.begin(), made.end());
  return absl::OkStatus();
}

absl::Status ValidatePollInterval(absl::Duration interval) {
  if (interval < kMinPollInterval || interval > kMaxPollInterval ||
      interval % absl::Milliseconds(1) != absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("poll_interval ", absl::FormatDuration(interval),
                                                   " must be whole milliseconds from ",
                                                   absl::FormatDuration(kMinPollInterval), " to ",
                                                   absl::FormatDuration(kMaxPollInterval)));
  }
  return absl::OkStatus();
}

absl::Status SetPollInterval(Channel& channel, absl::Duration interval, std::vector<ChannelChange>& changes) {
  if (absl::Status s = ValidatePollInterval(interval); !s.ok()) return s;
  if (channel.poll_interval == interval) return absl::OkStatus();
  changes.push_back({.field = "poll_interval",
                     .old_value = absl::FormatDuration(channel.poll_interval),
                     .new_value = absl::FormatDuration(interval)});
  channel.poll_interval = interval;
  return absl::OkStatus();
}

absl::Status SetWindows(Channel& channel, const std::vector<MaintenanceWindow>& windows,
                        std::vector<ChannelChange>& changes) {
  for (const MaintenanceWindow& w : windows) {
    if (absl::Status s = w.Validate(); !s.ok()) return s;
  }
  if (channel.maintenance_windows == windows) return absl::OkStatus();
  changes.push_back({.field = "maintenance_windows",
                     .old_value = WindowsToString(channel.maintenance_windows),
                     .new_value = WindowsToString(windows)});
  channel.maintenance_windows = windows;
  return absl::OkStatus();
}

}  // namespace drover::rollout
