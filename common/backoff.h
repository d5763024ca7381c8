// Capped exponential backoff with full jitter: the n-th wait is uniform in
// [0, min(max, initial * 2^n)), so a fleet that lost its server does not
// reconnect in lock-step.
#pragma once

#include <functional>

#include "absl/time/time.h"

namespace drover {

class Backoff {
 public:
  // `uniform` returns a number in [0, 1); injected so tests are exact.
  Backoff(absl::Duration initial, absl::Duration max, std::function<double()> uniform)
      : initial_(initial), max_(max), uniform_(std::move(uniform)) {}

  absl::Duration Next() {
    absl::Duration cap = initial_;
    for (int i = 0; i < attempt_ && cap < max_; ++i) cap *= 2;
    if (cap > max_) cap = max_;
    if (attempt_ < 62) ++attempt_;
    return cap * uniform_();
  }
  void Reset() { attempt_ = 0; }
  // New bounds from the next wait on; the attempt count stays.
  void SetLimits(absl::Duration initial, absl::Duration max) {
    initial_ = initial;
    max_ = max;
  }
  int attempt() const { return attempt_; }

 private:
  absl::Duration initial_;
  absl::Duration max_;
  std::function<double()> uniform_;
  int attempt_ = 0;
};

}  // namespace drover
