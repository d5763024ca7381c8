#include "common/rate_limiter.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

constexpr absl::Time kStart = absl::FromUnixSeconds(1796515200);

TEST(KeyedRateLimiterTest, BurstThenRefusedUntilRefilled) {
  FakeClock clock(kStart);
  KeyedRateLimiter limiter({.per_second = 2, .burst = 3}, &clock);
  EXPECT_TRUE(limiter.Allow("h1"));
  EXPECT_TRUE(limiter.Allow("h1"));
  EXPECT_TRUE(limiter.Allow("h1"));
  EXPECT_FALSE(limiter.Allow("h1"));
  clock.Advance(absl::Milliseconds(499));
  EXPECT_FALSE(limiter.Allow("h1")) << "0.998 tokens is not one";
  clock.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(limiter.Allow("h1"));
  EXPECT_FALSE(limiter.Allow("h1"));
  // Never more than the burst, however long the silence.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("h1")) << i;
  EXPECT_FALSE(limiter.Allow("h1"));
}

TEST(KeyedRateLimiterTest, KeysHaveTheirOwnBuckets) {
  FakeClock clock(kStart);
  KeyedRateLimiter limiter({.per_second = 1, .burst = 1}, &clock);
  EXPECT_TRUE(limiter.Allow("forger"));
  EXPECT_FALSE(limiter.Allow("forger"));
  EXPECT_TRUE(limiter.Allow("real-host"));
  EXPECT_EQ(limiter.tracked_keys(), 2u);
}

TEST(KeyedRateLimiterTest, UnlimitedAllowsEverythingAndKeepsNothing) {
  FakeClock clock(kStart);
  KeyedRateLimiter limiter({.per_second = 0}, &clock);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Allow("h"));
  EXPECT_EQ(limiter.tracked_keys(), 0u);
}

TEST(KeyedRateLimiterTest, ABackwardsClockAddsNoTokens) {
  FakeClock clock(kStart);
  KeyedRateLimiter limiter({.per_second = 1, .burst = 1}, &clock);
  EXPECT_TRUE(limiter.Allow("h"));
  clock.Set(kStart - absl::Hours(1));
  EXPECT_FALSE(limiter.Allow("h"));
  clock.Set(kStart + absl::Seconds(1));
  EXPECT_TRUE(limiter.Allow("h"));
}

TEST(KeyedRateLimiterTest, MemoryIsBoundedByDroppingRefilledBucketsThenRefusingNewKeys) {
  FakeClock clock(kStart);
  // 16 shards of one key each.
  KeyedRateLimiter limiter({.per_second = 1, .burst = 1}, &clock, /*max_keys=*/16);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.Allow(std::to_string(i)) ? 1 : 0;
  EXPECT_LE(limiter.tracked_keys(), 16u);
  EXPECT_LE(allowed, 16) << "invented keys beyond the bound are refused while the kept ones drain";
  EXPECT_GE(allowed, 1);
  // Once the kept buckets have filled up again they make room.
  clock.Advance(absl::Seconds(1));
  int later = 0;
  for (int i = 1000; i < 1100; ++i) later += limiter.Allow(std::to_string(i)) ? 1 : 0;
  EXPECT_GE(later, 1);
  EXPECT_LE(limiter.tracked_keys(), 16u);
}

TEST(PeerAddressTest, DropsThePort) {
  EXPECT_EQ(PeerAddress("ipv4:10.0.0.7:53122"), "ipv4:10.0.0.7");
  EXPECT_EQ(PeerAddress("ipv6:[::1]:4000"), "ipv6:[::1]");
  EXPECT_EQ(PeerAddress("ipv6:%5B::1%5D:4000"), "ipv6:%5B::1%5D");
  EXPECT_EQ(PeerAddress("ipv6:::1"), "ipv6:::1") << "no bracket: left whole";
  EXPECT_EQ(PeerAddress("unix:/run/drover.sock"), "unix:/run/drover.sock");
  EXPECT_EQ(PeerAddress(""), "");
}

}  // namespace
}  // namespace drover
