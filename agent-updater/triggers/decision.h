// The updater's decision for one pass, as a pure function of what it knows:
// whether to update now, wait, or refuse the target.
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "agent-updater/triggers/schedule.h"

namespace drover::updater {

struct DecisionInput {
  std::optional<std::string> installed;        // nullopt: agent not installed
  std::optional<std::string> target;           // nullopt or "": no target known
  bool critical = false;
  bool downgrade_allowed = false;
  // The answer is a staged rollout's start version (this host's group is not
  // let in yet), not the channel's target: a host already on something newer
  // is left as it is, quietly (it is not refusing anything).
  bool held_back = false;
  std::string control_plane_version;           // empty: unknown
  bool healthy = true;
  bool coordinator_reachable = true;
  // Why there is no fresh target when coordinator_reachable is false ("channel
  // \"x\" does not exist on the coordinator"); empty: "coordinator unreachable".
  std::string coordinator_problem;
  // nullopt: no schedule known at all.
  std::optional<Schedule> schedule;
  std::string rolled_back_version;             // not retried while it is the target
  // A version whose install failed: not retried while it is the target
  // before failed_retry_time.
  std::string failed_version;
  int failed_attempts = 0;
  absl::Time failed_retry_time = absl::InfinitePast();
  absl::Time now;
};

enum class Action { kNothing, kWait, kRefuse, kUpdate };

struct Decision {
  Action action = Action::kNothing;
  // Which trigger fired (update), or why not (wait, refuse, nothing).
  std::string reason;
};

Decision Decide(const DecisionInput& in);

// How long a version whose install failed `attempts` times in a row is left
// alone: 5 min, doubling, at most 6 h. A missing artifact or a bad signature
// is not fixed by retrying every poll (each retry downloads the tarball).
absl::Duration FailedInstallRetryDelay(int attempts);

const char* ActionName(Action a);

}  // namespace drover::updater
