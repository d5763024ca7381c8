#include "coordinator/rollout/pacing.h"

#include <algorithm>
#include <cmath>

namespace drover::rollout {

double OverloadStretch(double queue_fill) {
  const double fill = std::clamp(queue_fill, 0.0, 1.0);
  if (fill <= kOverloadFrom) return 1.0;
  return 1.0 + (kMaxOverloadStretch - 1.0) * (fill - kOverloadFrom) / (1.0 - kOverloadFrom);
}

absl::Duration NextSyncInterval(const PacingInput& in) {
  double seconds = absl::ToDoubleSeconds(std::clamp(in.poll_interval, kMinSyncInterval, kMaxSyncInterval));
  if (in.target_rate > 0 && in.served_hosts > 0) seconds = std::max(seconds, in.served_hosts / in.target_rate);
  seconds *= OverloadStretch(in.queue_fill);
  const double unit = std::clamp(in.unit, 0.0, 1.0);
  seconds *= 1.0 - kSyncJitter + 2.0 * kSyncJitter * unit;
  // Clamped in seconds first: a huge estimate must not overflow a Duration.
  seconds = std::clamp(seconds, absl::ToDoubleSeconds(kMinSyncInterval), absl::ToDoubleSeconds(kMaxSyncInterval));
  return absl::Milliseconds(std::llround(seconds * 1000.0));
}

void ServedHostsMeter::Record(absl::Time now, absl::Duration interval) {
  const int64_t second = absl::ToUnixSeconds(now);
  absl::MutexLock lock(&mu_);
  if (first_second_ < 0 || second < first_second_) first_second_ = second;
  Bucket& b = buckets_[static_cast<size_t>(second % kWindowSeconds)];
  if (b.second != second) b = Bucket{second, 0, 0};
  ++b.polls;
  b.interval_seconds += absl::ToDoubleSeconds(interval);
}

double ServedHostsMeter::Estimate(absl::Time now) const {
  const int64_t second = absl::ToUnixSeconds(now);
  absl::MutexLock lock(&mu_);
  if (first_second_ < 0) return 0;
  int64_t polls = 0;
  double interval_seconds = 0;
  for (const Bucket& b : buckets_) {
    // The last kWindowSeconds whole seconds, the current one included.
    if (b.second < 0 || b.second > second || b.second <= second - kWindowSeconds) continue;
    polls += b.polls;
    interval_seconds += b.interval_seconds;
  }
  if (polls == 0) return 0;
  // A replica that started (or saw its first poll) less than a window ago
  // divides by the time it has been counting, so a restart storm is seen at
  // its full rate at once.
  const int64_t span = std::clamp<int64_t>(second - first_second_ + 1, 1, kWindowSeconds);
  const double per_second = static_cast<double>(polls) / static_cast<double>(span);
  return per_second * (interval_seconds / static_cast<double>(polls));
}

}  // namespace drover::rollout
