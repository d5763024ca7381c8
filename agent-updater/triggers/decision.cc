#include "agent-updater/triggers/decision.h"

#include "absl/strings/str_cat.h"
#include "common/semver.h"
#include "common/version_policy.h"

namespace drover::updater {

const char* ActionName(Action a) {
  switch (a) {
    case Action::kNothing: return "nothing";
    case Action::kWait: return "wait";
    case Action::kRefuse: return "refuse";
    case Action::kUpdate: return "update";
  }
  return "?";
}

Decision Decide(const DecisionInput& in) {
  if (in.schedule && in.schedule->nop) return {Action::kNothing, "schedule says nop: this updater does nothing"};
  if (!in.target || in.target->empty()) return {Action::kNothing, "no target version"};
  absl::StatusOr<Semver> target = Semver::Parse(*in.target);
  if (!target.ok()) return {Action::kRefuse, std::string(target.status().message())};
  if (in.installed && *in.installed == target->ToString()) {
    return {Action::kNothing, absl::StrCat("already on target ", *in.installed)};
  }
  // The coordinator enforces the rules too; the updater checks again so that
  // a wrong or tampered answer cannot push an agent out of policy.
  if (!in.control_plane_version.empty()) {
    absl::StatusOr<Semver> cp = Semver::Parse(in.control_plane_version);
    if (!cp.ok()) return {Action::kRefuse, absl::StrCat("control-plane version: ", cp.status().message())};
    if (absl::Status s = CheckVersionPolicy(*target, *cp, "target version"); !s.ok()) {
      return {Action::kRefuse, std::string(s.message())};
    }
  }
  if (in.installed) {
    absl::StatusOr<Semver> installed = Semver::Parse(*in.installed);
    if (installed.ok() && *target < *installed && !in.downgrade_allowed && in.held_back) {
      return {Action::kNothing, absl::StrCat("held on the rollout's start version ", target->ToString(),
                                             " until this host's group is let in; runs newer ", *in.installed,
                                             ": left as it is")};
    }
    if (installed.ok() && *target < *installed && !in.downgrade_allowed) {
      return {Action::kRefuse, absl::StrCat("target ", target->ToString(), " is below installed ", *in.installed,
                                            " and the coordinator did not mark it as a roll-back")};
    }
  }
  if (!in.rolled_back_version.empty() && in.rolled_back_version == target->ToString()) {
    return {Action::kWait, absl::StrCat(in.rolled_back_version,
                                        " was rolled back; not retried until the target changes or "
                                        "`drover-updater clear`")};
  }
  if (!in.failed_version.empty() && in.failed_version == target->ToString() && in.now < in.failed_retry_time) {
    return {Action::kWait,
            absl::StrCat(in.failed_version, " failed to install (", in.failed_attempts,
                         in.failed_attempts == 1 ? " attempt" : " attempts", "); next try after ",
                         absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", in.failed_retry_time, absl::UTCTimeZone()),
                         ", or when the target changes, or after `drover-updater clear`")};
  }
  if (!in.coordinator_reachable && in.healthy) {
    return {Action::kWait,
            absl::StrCat("no fresh target: ",
                         in.coordinator_problem.empty() ? "coordinator unreachable" : in.coordinator_problem,
                         "; agent healthy: leaving it as it is")};
  }
  // The triggers, OR-ed.
  if (in.critical) return {Action::kUpdate, "critical update"};
  if (!in.healthy) return {Action::kUpdate, "agent unhealthy"};
  if (!in.installed) return {Action::kUpdate, "agent not installed"};
  if (!in.schedule) return {Action::kUpdate, "no maintenance schedule known"};
  if (!in.schedule->HasCurrentOrFutureWindow(in.now)) {
    return {Action::kUpdate, "no current or future maintenance window: treating the agent as unhealthy"};
  }
  if (in.schedule->InWindow(in.now)) return {Action::kUpdate, "inside maintenance window"};
  std::optional<TimeRange> next = in.schedule->Next(in.now);
  return {Action::kWait,
          absl::StrCat("outside maintenance window; next opens ",
                       next ? absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", next->start, absl::UTCTimeZone()) : "never")};
}

absl::Duration FailedInstallRetryDelay(int attempts) {
  constexpr absl::Duration kFirst = absl::Minutes(5);
  constexpr absl::Duration kMax = absl::Hours(6);
  absl::Duration d = kFirst;
  for (int i = 1; i < attempts && d < kMax; ++i) d *= 2;
  return std::min(d, kMax);
}

}  // namespace drover::updater
