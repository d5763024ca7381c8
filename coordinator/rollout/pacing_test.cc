#include "coordinator/rollout/pacing.h"

#include <gtest/gtest.h>

namespace drover::rollout {
namespace {

PacingInput Input(absl::Duration poll, double hosts, double rate) {
  PacingInput in;
  in.poll_interval = poll;
  in.served_hosts = hosts;
  in.target_rate = rate;
  in.unit = 0.5;  // no jitter
  return in;
}

TEST(NextSyncIntervalTest, SmallFleetGetsTheChannelsInterval) {
  EXPECT_EQ(NextSyncInterval(Input(absl::Seconds(60), 100, 400)), absl::Seconds(60));
  EXPECT_EQ(NextSyncInterval(Input(absl::Seconds(1), 3, 400)), absl::Seconds(1));
  // No estimate yet, or no target rate: the channel's.
  EXPECT_EQ(NextSyncInterval(Input(absl::Seconds(30), 0, 400)), absl::Seconds(30));
  EXPECT_EQ(NextSyncInterval(Input(absl::Seconds(30), 1e9, 0)), absl::Seconds(30));
}

TEST(NextSyncIntervalTest, GrowsWithTheFleet) {
  // 60 s x 400/s = 24,000 hosts fit the channel's interval; beyond, N / R.
  EXPECT_EQ(NextSyncInterval(Input(absl::Seconds(60), 24'000, 400)), absl::Seconds(60));
  EXPECT_EQ(NextSyncInterval(Input(absl::Seconds(60), 48'000, 400)), absl::Seconds(120));
  EXPECT_EQ(NextSyncInterval(Input(absl::Seconds(60), 1'000'000, 400)), absl::Seconds(2500));
  absl::Duration last = absl::ZeroDuration();
  for (double hosts = 1000; hosts <= 1e7; hosts *= 2) {
    const absl::Duration d = NextSyncInterval(Input(absl::Seconds(60), hosts, 400));
    EXPECT_GE(d, last) << hosts;
    last = d;
  }
}

TEST(NextSyncIntervalTest, OneSecondChannelWithAHundredThousandHosts) {
  // What melts a replica: 100,000 hosts each polling every second. The
  // answer keeps them at the rate it sustains.
  const absl::Duration d = NextSyncInterval(Input(absl::Seconds(1), 100'000, 400));
  EXPECT_EQ(d, absl::Seconds(250));
  EXPECT_LE(100'000 / absl::ToDoubleSeconds(d), 400.0 + 1e-9);
}

TEST(NextSyncIntervalTest, StretchesWhenOverloaded) {
  PacingInput in = Input(absl::Seconds(60), 100, 400);
  in.queue_fill = 0.05;
  EXPECT_EQ(NextSyncInterval(in), absl::Seconds(60));
  in.queue_fill = 0.55;
  EXPECT_EQ(NextSyncInterval(in), absl::Seconds(60 * 5.5));
  in.queue_fill = 1.0;
  EXPECT_EQ(NextSyncInterval(in), absl::Seconds(600));
  in.queue_fill = 7.0;  // clamped
  EXPECT_EQ(NextSyncInterval(in), absl::Seconds(600));
  in.queue_fill = -1;
  EXPECT_EQ(NextSyncInterval(in), absl::Seconds(60));
  EXPECT_DOUBLE_EQ(OverloadStretch(kOverloadFrom), 1.0);
  EXPECT_GT(OverloadStretch(0.2), 1.0);
  EXPECT_LT(OverloadStretch(0.2), OverloadStretch(0.3));
}

TEST(NextSyncIntervalTest, JitterStaysWithinTenPercent) {
  PacingInput in = Input(absl::Seconds(100), 0, 400);
  in.unit = 0;
  EXPECT_EQ(NextSyncInterval(in), absl::Seconds(90));
  in.unit = 0.999999;
  EXPECT_NEAR(absl::ToDoubleSeconds(NextSyncInterval(in)), 110, 0.001);
  for (double u = 0; u < 1; u += 0.01) {
    in.unit = u;
    const absl::Duration d = NextSyncInterval(in);
    EXPECT_GE(d, absl::Seconds(90));
    EXPECT_LE(d, absl::Seconds(110));
  }
  // Two draws, two answers: hosts told the same thing drift apart.
  in.unit = 0.1;
  const absl::Duration a = NextSyncInterval(in);
  in.unit = 0.9;
  EXPECT_NE(a, NextSyncInterval(in));
}

TEST(NextSyncIntervalTest, ClampedToOneSecondAndOneDay) {
  PacingInput in = Input(absl::Milliseconds(100), 0, 400);
  in.unit = 0;  // 0.9 x the floor would be below it
  EXPECT_EQ(NextSyncInterval(in), absl::Seconds(1));
  in = Input(absl::Hours(24), 0, 0);
  in.unit = 0.999;
  EXPECT_EQ(NextSyncInterval(in), absl::Hours(24));
  // An absurd estimate neither overflows nor exceeds a day.
  in = Input(absl::Seconds(60), 1e300, 1e-300);
  in.queue_fill = 1;
  EXPECT_EQ(NextSyncInterval(in), absl::Hours(24));
  in = Input(absl::ZeroDuration(), 0, 0);
  EXPECT_EQ(NextSyncInterval(in), absl::Seconds(1));
}

TEST(ServedHostsMeterTest, EstimatesHostsFromPollRateAndInterval) {
  ServedHostsMeter meter;
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_EQ(meter.Estimate(t0), 0);
  // 6,000 hosts every 60 s: 100 polls/s, each told 60 s, for two minutes.
  for (int s = 0; s < 120; ++s) {
    for (int i = 0; i < 100; ++i) meter.Record(t0 + absl::Seconds(s) + absl::Milliseconds(i), absl::Seconds(60));
  }
  EXPECT_NEAR(meter.Estimate(t0 + absl::Seconds(119)), 6000, 1);
}

TEST(ServedHostsMeterTest, SeesARestartStormAtOnce) {
  ServedHostsMeter meter;
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  // 10,000 polls in the first 2 seconds, told 60 s: 5,000/s x 60 s.
  for (int i = 0; i < 10'000; ++i) meter.Record(t0 + absl::Milliseconds(i / 5), absl::Seconds(60));
  EXPECT_NEAR(meter.Estimate(t0 + absl::Seconds(1)), 300'000, 1);
}

TEST(ServedHostsMeterTest, ForgetsPollsOlderThanTheWindow) {
  ServedHostsMeter meter;
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  for (int i = 0; i < 1000; ++i) meter.Record(t0, absl::Seconds(10));
  EXPECT_GT(meter.Estimate(t0 + absl::Seconds(30)), 0);
  EXPECT_EQ(meter.Estimate(t0 + absl::Seconds(ServedHostsMeter::kWindowSeconds)), 0);
  // A bucket reused a window later counts only its new second.
  meter.Record(t0 + absl::Seconds(ServedHostsMeter::kWindowSeconds), absl::Seconds(60));
  EXPECT_NEAR(meter.Estimate(t0 + absl::Seconds(ServedHostsMeter::kWindowSeconds)),
              1.0 / ServedHostsMeter::kWindowSeconds * 60, 1e-9);
}

TEST(ServedHostsMeterTest, FeedsBackToTheTargetRate) {
  // A fleet of 200,000 hosts on a 60 s channel, a replica sustaining 400/s:
  // starting from the channel's interval, the answers settle where the
  // polls per second meet the target rate.
  const double hosts = 200'000, rate = 400;
  absl::Duration told = absl::Seconds(60);
  for (int round = 0; round < 5; ++round) {
    ServedHostsMeter meter;
    const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000 + round * 1000);
    const double per_second = hosts / absl::ToDoubleSeconds(told);
    for (int s = 0; s < 60; ++s) {
      for (int i = 0; i < static_cast<int>(per_second); ++i) meter.Record(t0 + absl::Seconds(s), told);
    }
    told = NextSyncInterval({.poll_interval = absl::Seconds(60),
                             .served_hosts = meter.Estimate(t0 + absl::Seconds(59)),
                             .target_rate = rate,
                             .unit = 0.5});
  }
  EXPECT_NEAR(absl::ToDoubleSeconds(told), hosts / rate, 5);
}

}  // namespace
}  // namespace drover::rollout
