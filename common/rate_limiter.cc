#include "common/rate_limiter.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/match.h"

namespace drover {

KeyedRateLimiter::KeyedRateLimiter(RateLimit limit, const Clock* clock, size_t max_keys)
    : limit_{limit.per_second, std::max(1.0, limit.burst)},
      clock_(clock),
      max_keys_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

double KeyedRateLimiter::Refilled(const Bucket& b, absl::Time now) const {
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - b.updated));
  return std::min(limit_.burst, b.tokens + elapsed * limit_.per_second);
}

bool KeyedRateLimiter::Allow(absl::string_view key) {
  if (limit_.unlimited()) return true;
  Shard& shard = shards_[absl::HashOf(key) % kShards];
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&shard.mu);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_keys_per_shard_) {
      absl::erase_if(shard.buckets, [&](const auto& entry) { return Refilled(entry.second, now) >= limit_.burst; });
      if (shard.buckets.size() >= max_keys_per_shard_) return false;
    }
    it = shard.buckets.emplace(std::string(key), Bucket{limit_.burst, now}).first;
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b, now);
  b.updated = std::max(b.updated, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

size_t KeyedRateLimiter::tracked_keys() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    n += s.buckets.size();
  }
  return n;
}

std::string PeerAddress(absl::string_view peer) {
  if (absl::StartsWith(peer, "ipv4:")) {
    const size_t colon = peer.rfind(':');
    return std::string(colon > 4 ? peer.substr(0, colon) : peer);
  }
  if (absl::StartsWith(peer, "ipv6:")) {
    // gRPC writes the brackets plain or percent-encoded ("%5B::1%5D:4000").
    size_t end = peer.rfind(']');
    if (end != absl::string_view::npos) {
      ++end;
    } else if ((end = peer.rfind("%5D")) != absl::string_view::npos) {
      end += 3;
    } else {
      return std::string(peer);
    }
    return std::string(peer.substr(0, end));
  }
  return std::string(peer);
}

}  // namespace drover
