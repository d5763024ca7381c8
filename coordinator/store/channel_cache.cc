#include "coordinator/store/channel_cache.h"

#include "absl/strings/str_cat.h"

namespace drover::store {

ChannelCache::ChannelCache(ChannelStore* store, const Clock* clock, absl::Duration max_age)
    : store_(store), clock_(clock), max_age_(max_age) {}

void ChannelCache::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  loaded_at_ = absl::InfinitePast();
  last_error_at_ = absl::InfinitePast();
  ++invalidations_;
}

absl::StatusOr<rollout::Channel> ChannelCache::Get(const std::string& id) {
  std::shared_ptr<const Snapshot> snap;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (clock_->Now() - loaded_at_ < max_age_) snap = snapshot_;
  }
  if (snap == nullptr) {
    std::lock_guard<std::mutex> refresh(refresh_mu_);
    {
      // Another caller may have reloaded while we waited.
      std::lock_guard<std::mutex> lock(mu_);
      if (clock_->Now() - loaded_at_ < max_age_) snap = snapshot_;
    }
    if (snap == nullptr) {
      const absl::Time started = clock_->Now();
      uint64_t invalidations_before;
      {
        std::lock_guard<std::mutex> lock(mu_);
        invalidations_before = invalidations_;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (clock_->Now() - last_error_at_ < max_age_ && invalidations_ == invalidations_before) return last_error_;
      }
      absl::StatusOr<std::vector<rollout::Channel>> channels = store_->ListChannels();
      if (!channels.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        last_error_ = channels.status();
        last_error_at_ = clock_->Now();
        return channels.status();
      }
      auto fresh = std::make_shared<Snapshot>();
      for (rollout::Channel& c : *channels) {
        std::string key = c.id;
        fresh->emplace(std::move(key), std::move(c));
      }
      std::lock_guard<std::mutex> lock(mu_);
      snapshot_ = fresh;
      if (invalidations_ == invalidations_before) loaded_at_ = started;
      snap = fresh;
    }
  }
  auto it = snap->find(id);
  if (it == snap->end()) return absl::NotFoundError(absl::StrCat("channel \"", id, "\" not found"));
  return it->second;
}

}  // namespace drover::store
