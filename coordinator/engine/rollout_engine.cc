#include "coordinator/engine/rollout_engine.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "coordinator/rollout/staged.h"

namespace drover::engine {
namespace {
// Who the audit trail names for what the engine decides by itself.
constexpr const char* kEngineActor = "rollout-engine";
constexpr const char* kEngineMethod = "drover.v1.RolloutEngine/Step";
}  // namespace

RolloutEngine::RolloutEngine(store::RolloutStore* store, store::LeaderLock* lock, const Clock* clock,
                             RolloutEngineOptions options)
    : store_(store), lock_(lock), clock_(clock), options_(options) {}

RolloutEngine::~RolloutEngine() { Stop(); }

TickResult RolloutEngine::Tick() {
  TickResult result;
  absl::StatusOr<bool> held = lock_->Hold();
  const bool was_leader = leader_.load();
  result.leader = held.ok() && *held;
  if (result.leader != was_leader) {
    leader_.store(result.leader);
    ++leadership_changes_;
    if (result.leader) {
      leader_since_ = clock_->Now();
      LogInfo("rollout engine: this replica now leads (holds the leader lock) and advances rollouts");
    } else {
      LogWarning(absl::StrCat("rollout engine: this replica no longer leads",
                              held.ok() ? " (another replica holds the lock)" : absl::StrCat(": ", held.status().message())));
    }
  }
  if (!held.ok()) {
    ++errors_;
    ++result.errors;
    return result;
  }
  if (!result.leader) return result;

  absl::StatusOr<std::vector<std::string>> channels = store_->ChannelsWithLiveRollouts();
  if (!channels.ok()) {
    ++errors_;
    ++result.errors;
    LogWarning(absl::StrCat("rollout engine: listing live rollouts: ", channels.status().message()));
    return result;
  }
  for (const std::string& channel : *channels) StepChannel(channel, result);
  return result;
}

void RolloutEngine::StepChannel(const std::string& channel, TickResult& result) {
  ++result.rollouts;
  const absl::Time now = clock_->Now();
  absl::StatusOr<rollout::StepInputs> inputs = store_->LoadStepInputs(channel, options_.candidates, now);
  if (!inputs.ok()) {
    if (absl::IsNotFound(inputs.status())) return;  // deleted or superseded since listed
    ++errors_;
    ++result.errors;
    LogWarning(absl::StrCat("rollout engine: reading the rollout of channel \"", channel,
                            "\": ", inputs.status().message()));
    return;
  }
  inputs->watching_since = leader_since_;
  const rollout::StepResult step = rollout::Step(*inputs);
  if (!step.changed) return;
  store::AuditRecord audit{.actor = kEngineActor,
                           .peer = "local",
                           .method = kEngineMethod,
                           .object = absl::StrCat("channels/", channel, "/rollouts/", step.rollout.id),
                           .old_value = rollout::RolloutStateName(inputs->rollout.state),
                           .new_value = absl::StrCat(rollout::RolloutStateName(step.rollout.state),
                                                     step.rollout.reason.empty() ? "" : ": ", step.rollout.reason)};
  // Only decisions go to the audit trail (a state change of the rollout);
  // letting hosts in and counting failures are in the rollout's own tables.
  const bool decision = step.rollout.state != inputs->rollout.state;
  absl::StatusOr<int64_t> saved = store_->SaveStep(step, now, decision ? &audit : nullptr);
  if (!saved.ok()) {
    if (absl::IsAborted(saved.status()) || absl::IsFailedPrecondition(saved.status())) {
      // Another writer (an operator, a replica that took over) moved it
      // first: the next tick starts from what it wrote.
      ++conflicts_;
      ++result.conflicts;
      LogInfo(absl::StrCat("rollout engine: channel \"", channel, "\": ", saved.status().message(),
                           "; stepping again from the stored state"));
      return;
    }
    ++errors_;
    ++result.errors;
    LogWarning(absl::StrCat("rollout engine: writing the rollout of channel \"", channel,
                            "\": ", saved.status().message()));
    return;
  }
  ++steps_saved_;
  ++result.saved;
  for (const std::string& event : step.events) {
    if (step.rollout.state == rollout::RolloutState::kHalted ||
        step.rollout.state == rollout::RolloutState::kRolledBack) {
      LogError(absl::StrCat("rollout ", step.rollout.id, " of channel \"", channel, "\": ", event));
    } else {
      LogInfo(absl::StrCat("rollout ", step.rollout.id, " of channel \"", channel, "\": ", event));
    }
  }
}

void RolloutEngine::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      lock.unlock();
      Tick();
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.tick)),
                   [this] { return stopping_; });
    }
  });
}

void RolloutEngine::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (leader_.exchange(false)) {
    lock_->Release();
    LogInfo("rollout engine: stopped; leader lock released");
  }
}

}  // namespace drover::engine
