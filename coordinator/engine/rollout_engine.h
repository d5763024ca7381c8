// The rollout engine: the thin loop around rollout::Step. Every tick, in the
// replica holding the leader lock only, it reads each live rollout's inputs,
// asks the domain what to do, and writes the answer back if nobody advanced
// the rollout meanwhile. All decisions are rollout::Step's; all state is in
// the store, so a leader killed mid-rollout leaves nothing behind that the
// next leader would not read back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/store/leader_lock.h"
#include "coordinator/store/rollout_store.h"

namespace drover::engine {

struct RolloutEngineOptions {
  // How often the leader steps every live rollout, and how often the others
  // ask for the lock: a dead leader's rollouts move again within about this
  // (plus the time PostgreSQL takes to notice the leader's session is gone:
  // at once when its process dies, the kernel closing its socket).
  absl::Duration tick = absl::Seconds(1);
  // Hosts sampled per group and tick as canary candidates and as hosts
  // waiting to be let in: bounds one tick's work, and so how many hosts a
  // group lets in per tick.
  int64_t candidates = 1000;
};

// What one tick did.
struct TickResult {
  bool leader = false;
  int rollouts = 0;   // live rollouts looked at
  int saved = 0;      // steps written
  int conflicts = 0;  // steps another writer got to first (not written)
  int errors = 0;
};

class RolloutEngine {
 public:
  RolloutEngine(store::RolloutStore* store, store::LeaderLock* lock, const Clock* clock,
                RolloutEngineOptions options);
  ~RolloutEngine();

  // One round, synchronously (tests call it directly).
  TickResult Tick();

  // Ticks every options.tick on a thread of its own until Stop, which
  // releases the lock so another replica takes over at once.
  void Start();
  void Stop();

  bool leader() const { return leader_.load(); }
  int64_t steps_saved() const { return steps_saved_.load(); }
  int64_t conflicts() const { return conflicts_.load(); }
  int64_t errors() const { return errors_.load(); }
  int64_t leadership_changes() const { return leadership_changes_.load(); }

 private:
  // Steps one channel's rollout; adds to `result`.
  void StepChannel(const std::string& channel, TickResult& result);

  store::RolloutStore* const store_;
  store::LeaderLock* const lock_;
  const Clock* const clock_;
  const RolloutEngineOptions options_;

  std::atomic<bool> leader_{false};
  std::atomic<int64_t> steps_saved_{0};
  std::atomic<int64_t> conflicts_{0};
  std::atomic<int64_t> errors_{0};
  std::atomic<int64_t> leadership_changes_{0};
  // When this replica last took the lead (rollout::StepInputs::watching_since).
  absl::Time leader_since_ = absl::InfinitePast();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace drover::engine
