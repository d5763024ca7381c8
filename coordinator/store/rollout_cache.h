// Answers GetTarget's per-host question from memory, like ChannelCache: each
// channel's rollout snapshot (the rollout, its policy, the hosts let in) is
// at most `max_age` old, so a host the engine lets in hears it within about
// that, and a million polling updaters cost one read per channel per
// `max_age`, not one per poll.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "coordinator/store/rollout_store.h"

namespace drover::store {

class RolloutCache {
 public:
  RolloutCache(RolloutStore* store, const Clock* clock, absl::Duration max_age);

  // The snapshot of `channel`'s current rollout. `rollout_id` is the one the
  // caller's channel row names: a snapshot of another rollout is reloaded
  // whatever its age. Unavailable when the store cannot answer and the
  // snapshot is too old (or missing): the caller must not guess.
  absl::StatusOr<std::shared_ptr<const RolloutSnapshot>> Get(const std::string& channel, int64_t rollout_id);

  // Forces the next Get of `channel` to reload (a change was announced).
  void Invalidate(const std::string& channel);

 private:
  struct Entry {
    std::shared_ptr<const RolloutSnapshot> snapshot;
    absl::Time loaded_at = absl::InfinitePast();
    absl::Status last_error;
    absl::Time last_error_at = absl::InfinitePast();
  };

  RolloutStore* const store_;
  const Clock* const clock_;
  const absl::Duration max_age_;
  std::mutex refresh_mu_;  // one reload at a time
  std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace drover::store
