// Leadership among coordinator replicas: the rollout engine runs in one
// replica at a time. The PostgreSQL implementation (PgLeaderLock) holds a
// session advisory lock on a connection of its own: when the leader dies,
// however it dies, its session ends and the lock is free for the next
// replica that asks. Holding the lock is what makes a replica the one that
// advances rollouts; the rollout store's generation check (SaveStep) keeps a
// replica that lost the lock without noticing yet from writing over the new
// leader's work.
#pragma once

#include "absl/status/statusor.h"

namespace drover::store {

class LeaderLock {
 public:
  virtual ~LeaderLock() = default;
  // Takes the lock if free, or confirms that this replica still holds it
  // (its session is alive). False: another replica leads. Unavailable: the
  // database cannot be reached (not leading either).
  virtual absl::StatusOr<bool> Hold() = 0;
  // Gives the lock up (shutdown), so another replica takes over at once.
  virtual void Release() = 0;
};

}  // namespace drover::store
