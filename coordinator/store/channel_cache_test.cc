#include "coordinator/store/channel_cache.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "common/clock.h"
#include "common/status_testing.h"

namespace drover::store {
namespace {

using ::drover::testing::IsError;

// Serves ListChannels from a vector and counts the calls; the rest is unused.
class FakeChannelStore final : public ChannelStore {
 public:
  absl::StatusOr<std::vector<rollout::Channel>> ListChannels() override {
    ++list_calls;
    if (!next_error.ok()) return next_error;
    return channels;
  }
  absl::StatusOr<rollout::Channel> CreateChannel(const rollout::Channel&, const AuditRecord*) override { return Unused(); }
  absl::StatusOr<rollout::Channel> GetChannel(const std::string&) override { return Unused(); }
  absl::StatusOr<int64_t> DeleteChannel(const std::string&, bool, const AuditRecord*) override { return Unused(); }
  absl::StatusOr<rollout::Channel> UpdateChannel(const std::string&, const ChannelMutation&, const AuditRecord*) override {
    return Unused();
  }
  absl::StatusOr<std::vector<ChannelChange>> ListChannelChanges(const std::string&, int64_t, int) override {
    return Unused();
  }

  std::vector<rollout::Channel> channels;
  absl::Status next_error;
  int list_calls = 0;

 private:
  static absl::Status Unused() {
    ADD_FAILURE() << "ChannelCache must read channels only through ListChannels";
    return absl::UnimplementedError("not used by ChannelCache");
  }
};

rollout::Channel MakeChannel(const std::string& id, const std::string& target) {
  rollout::Channel c;
  c.id = id;
  c.target_version = target;
  c.control_plane_version = "15.2.0";
  return c;
}

class ChannelCacheTest : public ::testing::Test {
 protected:
  static constexpr absl::Duration kMaxAge = absl::Seconds(10);

  ChannelCacheTest() {
    store_.channels = {MakeChannel("stable", "15.1.0"), MakeChannel("beta", "15.2.0")};
  }

  // The target the cache answers for `id`, or the error text.
  std::string TargetOf(const std::string& id) {
    absl::StatusOr<rollout::Channel> c = cache_.Get(id);
    if (!c.ok()) return std::string(c.status().message());
    return c->target_version.value_or("none");
  }

  FakeChannelStore store_;
  FakeClock clock_{absl::FromCivil(absl::CivilSecond(2026, 11, 23, 12, 0, 0), absl::UTCTimeZone())};
  ChannelCache cache_{&store_, &clock_, kMaxAge};
};

TEST_F(ChannelCacheTest, FirstGetLoadsEveryChannel) {
  absl::StatusOr<rollout::Channel> c = cache_.Get("stable");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, "stable");
  EXPECT_EQ(c->target_version, "15.1.0");
  EXPECT_EQ(c->control_plane_version, "15.2.0");
  EXPECT_EQ(store_.list_calls, 1);
  // The other channel came with the same load.
  EXPECT_EQ(TargetOf("beta"), "15.2.0");
  EXPECT_EQ(store_.list_calls, 1);
}

TEST_F(ChannelCacheTest, ServesFromMemoryWithinMaxAge) {
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  store_.channels[0].target_version = "15.2.0";  // another replica's change
  clock_.Advance(kMaxAge - absl::Milliseconds(1));
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  EXPECT_EQ(store_.list_calls, 1);
}

TEST_F(ChannelCacheTest, ReloadsOnceMaxAgeHasPassed) {
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  store_.channels[0].target_version = "15.2.0";
  clock_.Advance(kMaxAge);
  EXPECT_EQ(TargetOf("stable"), "15.2.0");
  EXPECT_EQ(store_.list_calls, 2);
  // The reload is fresh for another max_age, counted from the reload.
  clock_.Advance(kMaxAge - absl::Milliseconds(1));
  EXPECT_EQ(TargetOf("stable"), "15.2.0");
  EXPECT_EQ(store_.list_calls, 2);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(TargetOf("stable"), "15.2.0");
  EXPECT_EQ(store_.list_calls, 3);
}

TEST_F(ChannelCacheTest, InvalidateForcesReload) {
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  store_.channels[0].target_version = "15.2.0";
  cache_.Invalidate();
  EXPECT_EQ(TargetOf("stable"), "15.2.0");
  EXPECT_EQ(store_.list_calls, 2);
  // And the reload is cached again.
  EXPECT_EQ(TargetOf("stable"), "15.2.0");
  EXPECT_EQ(store_.list_calls, 2);
}

TEST_F(ChannelCacheTest, NewChannelShowsAfterReload) {
  EXPECT_TRUE(IsError(cache_.Get("edge").status(), absl::StatusCode::kNotFound));
  store_.channels.push_back(MakeChannel("edge", "15.0.0"));
  cache_.Invalidate();
  EXPECT_EQ(TargetOf("edge"), "15.0.0");
}

TEST_F(ChannelCacheTest, UnknownChannelIsNotFoundWithoutExtraLoads) {
  EXPECT_TRUE(IsError(cache_.Get("nope").status(), absl::StatusCode::kNotFound, {"\"nope\""}));
  EXPECT_TRUE(IsError(cache_.Get("nope").status(), absl::StatusCode::kNotFound, {"\"nope\""}));
  EXPECT_EQ(store_.list_calls, 1);
}

TEST_F(ChannelCacheTest, StoreErrorPropagatesWhenNothingCached) {
  store_.next_error = absl::UnavailableError("connection refused");
  EXPECT_TRUE(IsError(cache_.Get("stable").status(), absl::StatusCode::kUnavailable, {"connection refused"}));
  // A failed load is shared for max_age (one database attempt per interval,
  // not one per updater poll)...
  store_.next_error = absl::OkStatus();
  EXPECT_TRUE(IsError(cache_.Get("stable").status(), absl::StatusCode::kUnavailable, {"connection refused"}));
  EXPECT_EQ(store_.list_calls, 1);
  // ...then tried again.
  clock_.Advance(kMaxAge);
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  EXPECT_EQ(store_.list_calls, 2);
}

TEST_F(ChannelCacheTest, StoreErrorPropagatesOnceTheCacheIsTooOld) {
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  store_.next_error = absl::UnavailableError("connection refused");
  // Still fresh: the outage is invisible.
  clock_.Advance(kMaxAge / 2);
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  EXPECT_EQ(store_.list_calls, 1);
  // Too old: the error surfaces rather than stale data.
  clock_.Advance(kMaxAge);
  EXPECT_TRUE(IsError(cache_.Get("stable").status(), absl::StatusCode::kUnavailable));
  EXPECT_EQ(store_.list_calls, 2);
  store_.next_error = absl::OkStatus();
  clock_.Advance(kMaxAge);
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  EXPECT_EQ(store_.list_calls, 3);
}

TEST_F(ChannelCacheTest, StoreErrorAfterInvalidatePropagates) {
  EXPECT_EQ(TargetOf("stable"), "15.1.0");
  store_.next_error = absl::UnavailableError("connection refused");
  cache_.Invalidate();
  EXPECT_TRUE(IsError(cache_.Get("stable").status(), absl::StatusCode::kUnavailable));
}

// The cache is shared by every RPC thread. These run it from many threads at
// once (under TSan in CI) and check what must hold whatever the interleaving.

// Channels that change under a lock while threads read them; a load can be
// held until released.
class SharedChannelStore final : public ChannelStore {
 public:
  static constexpr auto kDeadline = std::chrono::seconds(10);

  SharedChannelStore() : channels_{MakeChannel("stable", "1.0.1"), MakeChannel("beta", "2.0.0")} {}

  absl::StatusOr<std::vector<rollout::Channel>> ListChannels() override {
    std::unique_lock<std::mutex> lock(mu_);
    ++list_calls_;
    cv_.notify_all();
    if (!cv_.wait_for(lock, kDeadline, [&] { return !hold_; })) return absl::DeadlineExceededError("held too long");
    return channels_;
  }
  absl::StatusOr<rollout::Channel> CreateChannel(const rollout::Channel&, const AuditRecord*) override { return Unused(); }
  absl::StatusOr<rollout::Channel> GetChannel(const std::string&) override { return Unused(); }
  absl::StatusOr<int64_t> DeleteChannel(const std::string&, bool, const AuditRecord*) override { return Unused(); }
  absl::StatusOr<rollout::Channel> UpdateChannel(const std::string&, const ChannelMutation&, const AuditRecord*) override {
    return Unused();
  }
  absl::StatusOr<std::vector<ChannelChange>> ListChannelChanges(const std::string&, int64_t, int) override {
    return Unused();
  }

  void SetStableTarget(const std::string& target) {
    std::lock_guard<std::mutex> lock(mu_);
    channels_[0].target_version = target;
  }
  void Hold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
    cv_.notify_all();
  }
  // True once at least `n` loads have begun.
  bool AwaitLoads(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return list_calls_ >= n; });
  }
  int list_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return list_calls_;
  }

 private:
  static absl::Status Unused() {
    ADD_FAILURE() << "ChannelCache must read channels only through ListChannels";
    return absl::UnimplementedError("not used by ChannelCache");
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<rollout::Channel> channels_;
  bool hold_ = false;
  int list_calls_ = 0;
};

TEST(ChannelCacheConcurrencyTest, CallersOfAColdCacheShareOneLoad) {
  SharedChannelStore store;
  FakeClock clock(absl::FromUnixSeconds(1800000000));
  ChannelCache cache(&store, &clock, absl::Seconds(10));
  store.Hold(true);
  constexpr int kThreads = 8;
  std::vector<std::string> got(kThreads);
  std::vector<std::thread> callers;
  for (int i = 0; i < kThreads; ++i) {
    callers.emplace_back([&, i] {
      absl::StatusOr<rollout::Channel> c = cache.Get(i % 2 ? "beta" : "stable");
      got[i] = c.ok() ? c->target_version.value_or("none") : std::string(c.status().message());
    });
  }
  // Whoever came first loads; the others, arriving during or after the load,
  // take its snapshot rather than loading again.
  ASSERT_TRUE(store.AwaitLoads(1));
  store.Hold(false);
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(store.list_calls(), 1);
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(got[i], i % 2 ? "2.0.0" : "1.0.1") << "caller " << i;
}

TEST(ChannelCacheConcurrencyTest, ReadersRacingChangesNeverGoBackAndSeeTheLastChange) {
  SharedChannelStore store;
  FakeClock clock(absl::FromUnixSeconds(1800000000));
  constexpr absl::Duration kMaxAge = absl::Seconds(10);
  ChannelCache cache(&store, &clock, kMaxAge);
  constexpr int kChanges = 2000, kReaders = 4;
  std::atomic<int> reading{0};
  std::atomic<bool> done{false};
  std::vector<std::string> failures(kReaders);
  std::vector<int64_t> reads(kReaders, 0);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      int last = 0;
      do {
        absl::StatusOr<rollout::Channel> c = cache.Get("stable");
        if (++reads[r] == 1) reading.fetch_add(1);
        int patch = 0;
        if (!c.ok() || !absl::SimpleAtoi(absl::StripPrefix(c->target_version.value_or(""), "1.0."), &patch)) {
          failures[r] = c.ok() ? absl::StrCat("target ", c->target_version.value_or("none")) : c.status().ToString();
          return;
        }
        // Loads are serialised and each reads the store as it is then: a
        // snapshot never replaces a newer one.
        if (patch < last) {
          failures[r] = absl::StrCat("went back from 1.0.", last, " to 1.0.", patch);
          return;
        }
        last = patch;
      } while (!done.load());
    });
  }
  // Changes start once every reader is reading, so that they overlap.
  const auto deadline = std::chrono::steady_clock::now() + SharedChannelStore::kDeadline;
  while (reading.load() < kReaders && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  for (int n = 2; n <= kChanges; ++n) {
    store.SetStableTarget(absl::StrCat("1.0.", n));
    // Most changes are made through this replica; the rest show when the cache ages out.
    if (n % 10 == 0) {
      clock.Advance(kMaxAge);
    } else {
      cache.Invalidate();
    }
  }
  cache.Invalidate();
  done.store(true);
  for (std::thread& t : readers) t.join();
  for (int r = 0; r < kReaders; ++r) {
    EXPECT_EQ(failures[r], "") << "reader " << r;
    EXPECT_GE(reads[r], 1) << "reader " << r;
  }
  // A load that began before the last change is not taken as fresh.
  absl::StatusOr<rollout::Channel> last = cache.Get("stable");
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->target_version, absl::StrCat("1.0.", kChanges));
}

}  // namespace
}  // namespace drover::store
