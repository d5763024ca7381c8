// Storage of staged rollouts (coordinator/rollout/staged.h; tables of
// migration 000010). The rollout a new target starts is written by
// ChannelStore::UpdateChannel in the transaction of the target change (see
// ChannelChange::starts_rollout); this interface is the engine's and the
// operators' side.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "coordinator/rollout/staged.h"
#include "coordinator/store/audit_store.h"

namespace drover::store {

// What GetTarget needs of a channel's rollout: the rollout, the policy's
// groups and catch-all, and the hosts it let in (not withdrawn).
//
// The policy every read below returns with a rollout is the channel's
// current policy with the rollout's own groups (names and windows as they
// were when it started; none when it started without groups): a rollout
// keeps its groups, so group indexes always match Rollout::groups. Reads of
// a channel without a rollout are NotFound, as are unknown channels.
struct RolloutSnapshot {
  rollout::Rollout rollout;
  rollout::RolloutPolicy policy;
  absl::flat_hash_set<std::string> admitted;
};

// One group's counts for status, from the rollout's tables and the agents.
struct GroupCounts {
  int64_t hosts = 0;            // agents of the channel in this group
  int64_t present = 0;          // of those, not stale
  int64_t on_target = 0;        // running the target
  int64_t on_target_healthy = 0;
  int64_t admitted = 0;         // let in, not withdrawn
  int64_t canaries = 0;         // of those, canaries
  int64_t canaries_on_target_healthy = 0;
  int64_t in_flight = 0;        // let in, not failed, not yet on target healthy
  int64_t updating = 0;         // said they are installing the target now
  int64_t failed = 0;           // let in and counted failed
  int64_t canaries_failed = 0;
};

struct RolloutStatusView {
  rollout::Rollout rollout;
  rollout::RolloutPolicy policy;
  std::vector<GroupCounts> groups;  // one per rollout group
  int64_t hosts_outside = 0;        // catch-all off: hosts in no listed group
};

class RolloutStore {
 public:
  virtual ~RolloutStore() = default;

  // The channel's policy (the defaults when it has none of its own).
  // NotFound for an unknown channel.
  virtual absl::StatusOr<rollout::RolloutPolicy> GetPolicy(const std::string& channel) = 0;
  // Validated by the caller; written with `audit` in one transaction. The
  // current rollout keeps the groups it started with.
  virtual absl::Status SetPolicy(const std::string& channel, const rollout::RolloutPolicy& policy,
                                 const AuditRecord* audit) = 0;

  // The channel's current rollout (nullopt: none yet).
  virtual absl::StatusOr<std::optional<rollout::Rollout>> GetCurrentRollout(const std::string& channel) = 0;
  // Ids of the channels whose current rollout is live (active, paused, halted).
  virtual absl::StatusOr<std::vector<std::string>> ChannelsWithLiveRollouts() = 0;

  // Everything rollout::Step needs, read in one snapshot. `candidates`: how
  // many canary candidates and waiting hosts to sample per group at most.
  virtual absl::StatusOr<rollout::StepInputs> LoadStepInputs(const std::string& channel, int64_t candidates,
                                                             absl::Time now) = 0;
  // Writes a step: the rollout (state, reason, groups), admissions,
  // withdrawals, failures, and the channel's rollout columns, in one
  // transaction, only if the stored generation is still
  // `result.rollout.generation` (Aborted otherwise: someone else advanced it).
  // Returns the new generation.
  virtual absl::StatusOr<int64_t> SaveStep(const rollout::StepResult& result, absl::Time now,
                                           const AuditRecord* audit) = 0;

  // The channel's current rollout with its policy and the hosts let in; a
  // channel without a rollout yet gives its policy alone (rollout.id 0).
  virtual absl::StatusOr<RolloutSnapshot> GetSnapshot(const std::string& channel) = 0;
  virtual absl::StatusOr<RolloutStatusView> GetRolloutStatus(const std::string& channel, absl::Time now) = 0;
};

}  // namespace drover::store
