#include "coordinator/store/channel_cache.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

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
  absl::StatusOr<rollout::Channel> CreateChannel(const rollout::Channel&) override { return Unused(); }
  absl::StatusOr<rollout::Channel> GetChannel(const std::string&) override { return Unused(); }
  absl::StatusOr<int64_t> DeleteChannel(const std::string&, bool) override { return Unused(); }
  absl::StatusOr<rollout::Channel> UpdateChannel(const std::string&, const ChannelMutation&) override {
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

}  // namespace
}  // namespace drover::store
