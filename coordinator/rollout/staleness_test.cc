#include "coordinator/rollout/staleness.h"

#include <gtest/gtest.h>

namespace drover::rollout {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'007);  // 7 s into a bucket

TEST(StalenessTest, ThreePollIntervals) {
  EXPECT_EQ(kStaleAfterPollIntervals, 3);
  EXPECT_EQ(StaleAfter(absl::Seconds(60)), absl::Minutes(3));
  Channel c;
  c.poll_interval = absl::Seconds(20);
  EXPECT_EQ(StaleAfter(c), absl::Seconds(60));
}

TEST(StalenessTest, BucketsAreTenSecondsFromTheUnixEpoch) {
  EXPECT_EQ(SeenBucket(kNow), absl::FromUnixSeconds(1'800'000'000));
  EXPECT_EQ(SeenBucket(absl::FromUnixSeconds(1'800'000'010)), absl::FromUnixSeconds(1'800'000'010));
  EXPECT_EQ(SeenBucket(absl::FromUnixMicros(1'800'000'009'999'999)), absl::FromUnixSeconds(1'800'000'000));
}

TEST(StalenessTest, TheCutoffIsRoundedDownToABucket) {
  // now - 3 min = ...827 s, rounded down to ...820 s.
  EXPECT_EQ(StaleCutoff(absl::Seconds(60), kNow), absl::FromUnixSeconds(1'800'000'007 - 180 - 7));
}

TEST(StalenessTest, AnAgentTurnsStaleOnlyOnceItsWholeBucketIsPast) {
  const absl::Duration poll = absl::Seconds(60);
  const absl::Time cutoff = StaleCutoff(poll, kNow);
  EXPECT_TRUE(IsStale(cutoff - absl::Microseconds(1), poll, kNow));
  EXPECT_FALSE(IsStale(cutoff, poll, kNow));
  // Silent for a little over 3 intervals, but in the cutoff's bucket: not yet.
  EXPECT_FALSE(IsStale(kNow - StaleAfter(poll) - absl::Seconds(1), poll, kNow));
  EXPECT_TRUE(IsStale(kNow - StaleAfter(poll) - absl::Seconds(8), poll, kNow));
}

}  // namespace
}  // namespace drover::rollout
