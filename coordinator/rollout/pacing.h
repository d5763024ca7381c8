// When an updater should come back: the interval a Sync answer carries.
//
// The coordinator sets the pace so that neither a fleet that grew, nor a
// 1 s channel poll interval, nor every host coming back at once after a
// restart can melt a replica. The rule is rate-based: a replica that serves
// N hosts, each polling every T, receives N / T polls per second; to keep
// that at or below the rate it sustains (R), T must be at least N / R. So
//   interval = max(channel poll interval, N / R)
// stretched further while the report queue fills (the replica is already
// behind), spread by +-10 % jitter, clamped to [1 s, 24 h].
//
// Why not Teleport's sqrt(connected / 1024) scaling: it grows with the fleet
// but knows nothing of what the replica can take. At 1,000,000 hosts it
// stretches by 31x, which on a 1 s channel still means 32,000 polls/s (far
// above the ~500 new-connection passes/s a 2-core replica manages over mTLS,
// docs/performance.md) and on a 60 s channel a needless 31 minutes when the
// replica could serve them every 17 minutes. N / R is exactly the load the
// replica was sized for, and it shrinks back to the channel's interval as
// soon as the fleet (or the replica's share of it) is small enough.
//
// N is estimated by Little's law from what the replica sees: hosts in the
// cycle = polls per second x the mean interval they were given
// (ServedHostsMeter). The estimate follows the fleet within one interval:
// if the fleet grows, polls per second rise, and the next answers are longer.
#pragma once

#include <array>
#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace drover::rollout {

// Any interval handed to an updater, and any an updater accepts.
inline constexpr absl::Duration kMinSyncInterval = absl::Seconds(1);
inline constexpr absl::Duration kMaxSyncInterval = absl::Hours(24);
// Jitter: +-10 %, so hosts told the same thing drift apart.
inline constexpr double kSyncJitter = 0.10;
// The report queue's fill (queued / max_queue) from which answers stretch,
// and the stretch when it is full: by then reports already wait for a whole
// queue's worth of commits, and the arrival rate must fall to a tenth while
// it drains.
inline constexpr double kOverloadFrom = 0.10;
inline constexpr double kMaxOverloadStretch = 10.0;

struct PacingInput {
  // The channel's poll interval (what the operator asked for).
  absl::Duration poll_interval = absl::Seconds(60);
  // Hosts this replica currently serves (ServedHostsMeter::Estimate).
  double served_hosts = 0;
  // Polls per second this replica sustains; <= 0: no limit from the fleet's
  // size (only overload stretches).
  double target_rate = 0;
  // Reports waiting to be committed over the queue's bound, in [0, 1]
  // (values outside are clamped).
  double queue_fill = 0;
  // Uniform in [0, 1): the jitter's random draw (injected for tests).
  double unit = 0.5;
};

// The interval before the updater's next Sync, in whole milliseconds.
absl::Duration NextSyncInterval(const PacingInput& in);

// The stretch factor for a queue fill in [0, 1]: 1 up to kOverloadFrom,
// rising linearly to kMaxOverloadStretch when full.
double OverloadStretch(double queue_fill);

// Polls seen over the last kWindow (in 1 s buckets) and the intervals they
// were told: their product estimates the hosts served (Little's law).
// Bounded memory (a ring of kWindow buckets); thread-safe; time is passed
// in, so it is tested without sleeping.
class ServedHostsMeter {
 public:
  static constexpr int kWindowSeconds = 60;

  // One poll at `now`, told to come back after `interval`.
  void Record(absl::Time now, absl::Duration interval);
  // Hosts served, estimated at `now`: polls per second over the window (or
  // over the time since the first poll, when that is shorter) times the mean
  // interval they were told. 0 before any poll.
  double Estimate(absl::Time now) const;

 private:
  struct Bucket {
    int64_t second = -1;  // Unix second this bucket counts; -1: empty
    int64_t polls = 0;
    double interval_seconds = 0;  // sum over those polls
  };
  mutable absl::Mutex mu_;
  std::array<Bucket, kWindowSeconds> buckets_ ABSL_GUARDED_BY(mu_);
  int64_t first_second_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace drover::rollout
