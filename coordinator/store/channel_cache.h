// Answers GetTarget from memory: every updater polls, so a million agents at
// one poll a minute would otherwise be ~17k queries/s. Entries are at most
// `max_age` old, which bounds how long another replica's change takes to show.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "coordinator/store/store.h"

namespace drover::store {

class ChannelCache {
 public:
  ChannelCache(ChannelStore* store, const Clock* clock, absl::Duration max_age);

  // NotFound for an unknown channel; Unavailable when the store is down and
  // the cache is too old to answer.
  absl::StatusOr<rollout::Channel> Get(const std::string& id);

  // Forces the next Get to reload (after a change made through this replica).
  void Invalidate();

 private:
  using Snapshot = absl::flat_hash_map<std::string, rollout::Channel>;

  ChannelStore* const store_;
  const Clock* const clock_;
  const absl::Duration max_age_;

  std::mutex refresh_mu_;  // one reload at a time
  std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  absl::Time loaded_at_ = absl::InfinitePast();
  // Bumped by Invalidate, so a reload that began before a change is not
  // taken as fresh.
  uint64_t invalidations_ = 0;
  // A failed reload is shared for `max_age`, so a database outage costs one
  // attempt per interval rather than one per updater poll.
  absl::Status last_error_;
  absl::Time last_error_at_ = absl::InfinitePast();
};

}  // namespace drover::store
