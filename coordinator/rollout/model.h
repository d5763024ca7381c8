// The coordinator's domain types: plain structs, no gRPC, no SQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/api_limits.h"
#include "common/maintenance_window.h"

namespace drover::rollout {

enum class Health : int16_t { kHealthy = 1, kUnhealthy = 2 };
enum class UpdateResult : int16_t { kSucceeded = 1, kFailed = 2, kRolledBack = 3 };
// What an updater knows of its maintenance schedule; the values of
// drover.v1.ScheduleState. kUnspecified: an updater that does not say.
enum class ScheduleState : int16_t {
  kUnspecified = 0,
  kNone = 1,
  kOk = 2,
  kMissing = 3,
  kUnreadable = 4,
  kOnlyPastWindows = 5,
  kNop = 6,
};
inline constexpr int kScheduleStateCount = 7;

// Lower-case name, as metrics label it.
inline const char* ScheduleStateName(ScheduleState s) {
  switch (s) {
    case ScheduleState::kNone: return "none";
    case ScheduleState::kOk: return "ok";
    case ScheduleState::kMissing: return "missing";
    case ScheduleState::kUnreadable: return "unreadable";
    case ScheduleState::kOnlyPastWindows: return "only_past_windows";
    case ScheduleState::kNop: return "nop";
    case ScheduleState::kUnspecified: break;
  }
  return "unspecified";
}

struct UpdateOutcome {
  std::string from_version;
  std::string to_version;
  UpdateResult result = UpdateResult::kSucceeded;
  std::string error;
  absl::Time start_time;
  absl::Time finish_time;
};

// A validated status report from one updater. Versions are normalised.
struct AgentReport {
  std::string host_id;
  std::string channel;  // channel id, without "channels/"
  std::string group;
  std::string current_version;
  Health health = Health::kHealthy;
  std::string updater_version;
  int64_t sequence = 0;
  std::vector<UpdateOutcome> outcomes;
  // Empty from updaters that predate instance ids.
  std::string instance_id;
  ScheduleState schedule_state = ScheduleState::kUnspecified;
  // The version the updater is installing now (it reports just before it
  // installs); empty when it is not updating. Normalised like a version.
  std::string updating_to;
  // The sequence of the host's previous report when the coordinator
  // acknowledged it and nothing was sent since; 0: unknown. Only a report
  // that has it can be a heartbeat (rollout/heartbeat.h).
  int64_t previous_sequence = 0;
};

// The stored state of one agent.
struct AgentState {
  std::string host_id;
  std::string channel;
  std::string group;
  std::string current_version;
  Health health = Health::kHealthy;
  std::string updater_version;
  int64_t sequence = 0;
  absl::Time first_seen;
  absl::Time last_seen;
  std::string instance_id;
  ScheduleState schedule_state = ScheduleState::kUnspecified;
  // The last update attempt reported, if any.
  std::optional<UpdateResult> last_result;
  std::string last_result_version;
  // As last reported (AgentReport::updating_to): empty when not updating.
  std::string updating_to;
};

struct Channel {
  std::string id;
  std::optional<std::string> target_version;
  // The most recent target, kept when the target is cleared: a new target
  // below it is a roll-back even if the channel had no target in between.
  std::optional<std::string> last_target_version;
  bool target_allows_downgrade = false;
  // Whether the last target was set as a roll-back, kept when the target is
  // cleared: setting that version again is still a roll-back.
  bool last_target_allows_downgrade = false;
  std::optional<absl::Time> target_updated_at;
  int64_t target_epoch = 0;
  bool critical = false;
  std::string critical_reason;
  std::optional<absl::Time> critical_updated_at;
  std::string control_plane_version;
  // The target is the control-plane version, always (Teleport's
  // "stable/rolling"): SetControlPlane moves it, SetTarget is refused.
  bool follows_control_plane = false;
  std::vector<MaintenanceWindow> maintenance_windows;
  absl::Duration poll_interval = absl::Seconds(60);
  absl::Time created_at;
  absl::Time updated_at;
  int64_t generation = 0;
  // The current staged rollout (staged.h), as the signed answer states it:
  // kNone when every host gets the target (no rollout, or it is done),
  // kHolding when hosts not let in are held on rollout_start_version,
  // kRolledBack when every host is told rollout_start_version with
  // downgrade allowed. Written by the rollout store, not by operators.
  enum class RolloutMode : int16_t { kNone = 0, kHolding = 1, kRolledBack = 2 };
  int64_t rollout_id = 0;  // 0: none
  std::string rollout_start_version;
  RolloutMode rollout_mode = RolloutMode::kNone;
  // Its rollout policy turns the catch-all off: hosts in no listed group
  // (and updaters that send no host id) are told nothing to install, with
  // or without a rollout (staged.h, TargetFor).
  bool rollout_catch_all_off = false;
  std::vector<std::string> rollout_listed_groups;  // when off: the policy's groups
};

// One row of the fleet histogram of a channel.
struct VersionHealthCount {
  std::string version;
  Health health = Health::kHealthy;
  int64_t agents = 0;
};

struct OutcomeCount {
  UpdateResult result = UpdateResult::kSucceeded;
  int64_t outcomes = 0;
};

// One operator change to a channel, for the audit trail.
struct ChannelChange {
  int64_t id = 0;
  std::string channel;
  std::string field;
  std::string old_value;
  std::string new_value;
  std::string actor;  // empty until identities exist
  absl::Time changed_at;
  // Set by the rule that made the change (SetTarget) when it starts a new
  // target epoch: outcome counters restart from zero. Not stored; the store
  // obeys it (see StartsTargetEpoch in target_epoch.h).
  bool starts_target_epoch = false;
  // Set by SetTarget when the target changes: the store starts a staged
  // rollout to the new target in the same transaction (StartRollout in
  // staged.h), without canaries when forced (with the reason recorded).
  bool starts_rollout = false;
  bool rollout_skip_canaries = false;
  std::string rollout_force_reason;
};

// How often a channel's updaters poll: the bounds at creation and on change
// are the API's (common/api_limits.h: updaters clamp to them too).
using ::drover::kMaxPollInterval;
using ::drover::kMinPollInterval;
using ::drover::kDefaultPollInterval;

struct ScheduleStateCount {
  ScheduleState state = ScheduleState::kUnspecified;
  int64_t agents = 0;
};

// A cloned host id (a golden image): an updater instance reports for a host
// id again after another instance did (A, B, A). One change of instance, as
// after a reinstall, is not a conflict. The host stays flagged for this many
// poll intervals of its channel after the last such report.
inline constexpr int kInstanceConflictPollIntervals = 3;
inline absl::Duration InstanceConflictFor(absl::Duration poll_interval) {
  return kInstanceConflictPollIntervals * poll_interval;
}

// Hosts reporting for a channel that does not exist are listed, and counted,
// for this long after their last such report.
inline constexpr absl::Duration kOrphanVisibleFor = absl::Hours(1);

}  // namespace drover::rollout
