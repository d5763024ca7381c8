// Per-key token buckets (a key: a host id, a peer address): a caller may send
// `burst` requests at once and `per_second` on average; more is refused.
// Plain logic on an injected clock, so it is tested without sleeping; the
// coordinator's API refuses what it refuses with RESOURCE_EXHAUSTED.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace drover {

struct RateLimit {
  // Tokens added per second; 0 (or less): no limit.
  double per_second = 0;
  // Bucket size, at least 1 when limited.
  double burst = 1;
  bool unlimited() const { return per_second <= 0; }
};

class KeyedRateLimiter {
 public:
  // At most `max_keys` buckets are kept. A bucket that has filled up again
  // is the same as none, so those go first when room is needed; when every
  // kept bucket is still draining, a new key is refused (counted by the
  // caller like any refusal): the limiter's memory is bounded even when an
  // attacker invents keys.
  KeyedRateLimiter(RateLimit limit, const Clock* clock, size_t max_keys = 1'000'000);

  // Takes a token from `key`'s bucket; false when it has none.
  bool Allow(absl::string_view key);

  // Keys with a bucket (for tests and metrics).
  size_t tracked_keys() const;
  const RateLimit& limit() const { return limit_; }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mu);
  };
  double Refilled(const Bucket& b, absl::Time now) const;

  const RateLimit limit_;
  const Clock* const clock_;
  const size_t max_keys_per_shard_;
  std::array<Shard, kShards> shards_;
};

// The address part of a gRPC peer string ("ipv4:10.0.0.7:53122" ->
// "ipv4:10.0.0.7", "ipv6:[::1]:4000" -> "ipv6:[::1]"): updaters open a new
// connection per poll, so the port says nothing about who is calling.
std::string PeerAddress(absl::string_view grpc_peer);

}  // namespace drover
