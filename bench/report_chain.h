// What each simulated host remembers of its reports, as the updater does
// (agent-updater: Updater::Deliver): the sequence of its last report and
// whether the coordinator acknowledged it with nothing sent since, which is
// when the next report may name it as previous_sequence (the heartbeat
// contract, coordinator/rollout/heartbeat.h). Eight bytes a host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace drover::bench {

class ReportChains {
 public:
  // Every host starts with nothing sent.
  explicit ReportChains(int64_t hosts) : state_(static_cast<std::size_t>(hosts), 0) {}

  struct Next {
    int64_t sequence = 0;
    // The last report's sequence if it was acknowledged and nothing was
    // sent since; 0 otherwise.
    int64_t previous_sequence = 0;
  };

  // The sequence and previous_sequence of `host`'s next report, which is
  // now sent (in flight until its answer): until that answer, no later
  // report names a predecessor.
  Next Send(int64_t host) {
    uint64_t& s = state_[static_cast<std::size_t>(host)];
    const int64_t last = static_cast<int64_t>(s >> kFlagBits);
    Next n{.sequence = last + 1, .previous_sequence = (s & kAcknowledged) != 0 ? last : 0};
    s = static_cast<uint64_t>(n.sequence) << kFlagBits | kInFlight;
    return n;
  }

  // The answer to `host`'s report `sequence`: `acknowledged` when it came
  // back ACCEPTED or DUPLICATE. An answer to a report that is no longer the
  // host's last (one was sent after it) changes nothing: the later one's
  // answer decides.
  void Answered(int64_t host, int64_t sequence, bool acknowledged) {
    uint64_t& s = state_[static_cast<std::size_t>(host)];
    if (static_cast<int64_t>(s >> kFlagBits) != sequence) return;
    s = static_cast<uint64_t>(sequence) << kFlagBits | (acknowledged ? kAcknowledged : 0);
  }

  // Whether `host`'s last report awaits its answer. A real updater sends one
  // report at a time; the bench's phases skip such hosts.
  bool InFlight(int64_t host) const { return (state_[static_cast<std::size_t>(host)] & kInFlight) != 0; }
  // The sequence of `host`'s last report sent (0: none).
  int64_t LastSequence(int64_t host) const {
    return static_cast<int64_t>(state_[static_cast<std::size_t>(host)] >> kFlagBits);
  }
  int64_t size() const { return static_cast<int64_t>(state_.size()); }

 private:
  static constexpr int kFlagBits = 2;
  static constexpr uint64_t kAcknowledged = 1, kInFlight = 2;
  // Per host: last sequence sent << kFlagBits | in flight | acknowledged.
  std::vector<uint64_t> state_;
};

// Visits 0..n-1, each once per lap, in a scattered order (start + k * stride
// mod n, stride coprime to n): in a steady fleet every host reports once per
// poll interval, and consecutive reports come from hosts (rows) far apart.
// A host comes round again only after all the others, so with fewer calls
// outstanding than hosts it never has two reports in flight.
class HostCycle {
 public:
  HostCycle(int64_t n, uint64_t seed) : n_(n < 1 ? 1 : n) {
    // Near n / golden ratio, then the next value coprime to n.
    stride_ = n_ > 2 ? static_cast<int64_t>(static_cast<double>(n_) * 0.6180339887) : 1;
    while (Gcd(stride_, n_) != 1) ++stride_;
    position_ = static_cast<int64_t>(seed % static_cast<uint64_t>(n_));
  }

  int64_t size() const { return n_; }
  int64_t Next() {
    const int64_t h = position_;
    position_ += stride_;
    if (position_ >= n_) position_ -= n_;
    return h;
  }

 private:
  static int64_t Gcd(int64_t a, int64_t b) {
    while (b != 0) {
      const int64_t t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
  int64_t n_;
  int64_t stride_ = 1;
  int64_t position_ = 0;
};

}  // namespace drover::bench
