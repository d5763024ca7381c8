#include "coordinator/store/rollout_cache.h"

#include "absl/strings/str_cat.h"

namespace drover::store {

RolloutCache::RolloutCache(RolloutStore* store, const Clock* clock, absl::Duration max_age)
    : store_(store), clock_(clock), max_age_(max_age) {}

void RolloutCache::Invalidate(const std::string& channel) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(channel);
  if (it == entries_.end()) return;
  it->second.loaded_at = absl::InfinitePast();
  it->second.last_error_at = absl::InfinitePast();
}

absl::StatusOr<std::shared_ptr<const RolloutSnapshot>> RolloutCache::Get(const std::string& channel,
                                                                        int64_t rollout_id) {
  auto fresh = [&](const Entry& e, absl::Time now) {
    // A snapshot newer than the caller's channel row (its cache lags) is fine.
    return e.snapshot != nullptr && e.snapshot->rollout.id >= rollout_id && now - e.loaded_at < max_age_;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(channel);
    if (it != entries_.end() && fresh(it->second, clock_->Now())) return it->second.snapshot;
  }
  std::lock_guard<std::mutex> refresh(refresh_mu_);
  const absl::Time now = clock_->Now();
  {
    // Another caller may have reloaded it while we waited; a failure is
    // shared for max_age too, so an outage costs one attempt per interval.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(channel);
    if (it != entries_.end()) {
      if (fresh(it->second, now)) return it->second.snapshot;
      if (!it->second.last_error.ok() && now - it->second.last_error_at < max_age_) return it->second.last_error;
    }
  }
  absl::StatusOr<RolloutSnapshot> loaded = store_->GetSnapshot(channel);
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[channel];
  if (!loaded.ok()) {
    // As the store says it (its statuses carry no database text, and a
    // database outage keeps its reason, so updaters can tell it apart).
    e.last_error = loaded.status();
    e.last_error_at = now;
    return e.last_error;
  }
  e.snapshot = std::make_shared<const RolloutSnapshot>(*std::move(loaded));
  e.loaded_at = now;
  e.last_error = absl::OkStatus();
  return e.snapshot;
}

}  // namespace drover::store
