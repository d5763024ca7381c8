#include "coordinator/rollout/target_epoch.h"

#include <gtest/gtest.h>

#include "coordinator/rollout/channel_rules.h"

namespace drover::rollout {
namespace {

const absl::Time kSet = absl::FromUnixSeconds(1'800'000'000);

Channel Targeted(const std::string& target, int64_t epoch) {
  Channel c;
  c.id = "prod";
  c.target_version = target;
  c.target_epoch = epoch;
  c.target_updated_at = kSet;
  return c;
}

UpdateOutcome To(const std::string& version, absl::Time finished) {
  UpdateOutcome o;
  o.to_version = version;
  o.finish_time = finished;
  return o;
}

TEST(TargetEpochTest, TheAllowanceIsTheApiClockSkew) { EXPECT_EQ(kOutcomeClockAllowance, kMaxClockSkew); }

TEST(TargetEpochTest, ANewChannelStartsInEpochOneOnlyWithATarget) {
  Channel c;
  EXPECT_EQ(InitialTargetEpoch(c), 0);
  c.target_version = "15.2.0";
  EXPECT_EQ(InitialTargetEpoch(c), 1);
}

TEST(TargetEpochTest, OnlyChangesThatSaySoStartAnEpoch) {
  EXPECT_FALSE(StartsTargetEpoch({}));
  // The field name alone decides nothing.
  EXPECT_FALSE(StartsTargetEpoch({{.field = "target_version"}, {.field = "critical"}}));
  EXPECT_TRUE(StartsTargetEpoch({{.field = "critical"}, {.field = "x", .starts_target_epoch = true}}));
}

TEST(TargetEpochTest, EpochZeroCountsEverything) {
  Channel c;
  EXPECT_EQ(OutcomeTargetEpoch(c, To("1.0.0", kSet - absl::Hours(100))), 0);
  c.target_version = "15.2.0";  // epoch 0 with a target: a channel from before epochs
  EXPECT_EQ(OutcomeTargetEpoch(c, To("14.0.0", kSet)), 0);
}

TEST(TargetEpochTest, NoTargetTimeCountsAgainstTheCurrentEpoch) {
  Channel c = Targeted("15.2.0", 3);
  c.target_updated_at.reset();
  EXPECT_EQ(OutcomeTargetEpoch(c, To("14.0.0", kSet)), 3);
}

TEST(TargetEpochTest, ReachingForTheTargetAfterItWasSetCounts) {
  const Channel c = Targeted("15.2.0", 4);
  EXPECT_EQ(OutcomeTargetEpoch(c, To("15.2.0", kSet)), 4);
  EXPECT_EQ(OutcomeTargetEpoch(c, To("15.2.0", kSet + absl::Hours(2))), 4);
}

TEST(TargetEpochTest, AnAgentClockUpToTheAllowanceSlowStillCounts) {
  const Channel c = Targeted("15.2.0", 4);
  EXPECT_EQ(OutcomeTargetEpoch(c, To("15.2.0", kSet - kOutcomeClockAllowance)), 4);
  EXPECT_EQ(OutcomeTargetEpoch(c, To("15.2.0", kSet - kOutcomeClockAllowance - absl::Microseconds(1))), 3);
}

TEST(TargetEpochTest, LateOutcomesOfAnEarlierTargetCountAgainstTheEpochBefore) {
  const Channel c = Targeted("15.1.0", 2);
  // A failure towards the target before a roll-back, reported after it.
  EXPECT_EQ(OutcomeTargetEpoch(c, To("15.2.0", kSet + absl::Minutes(1))), 1);
  // An old attempt at a version that is the target again.
  EXPECT_EQ(OutcomeTargetEpoch(c, To("15.1.0", kSet - absl::Hours(1))), 1);
}

TEST(TargetEpochTest, WithTheTargetClearedNothingReachesForIt) {
  Channel c = Targeted("15.2.0", 5);
  c.target_version.reset();
  EXPECT_EQ(OutcomeTargetEpoch(c, To("15.2.0", kSet + absl::Minutes(1))), 4);
}

TEST(TargetEpochTest, SettingAndClearingATargetStartEpochsOtherEditsDoNot) {
  Channel c;
  c.id = "prod";
  c.control_plane_version = "15.2.0";
  std::vector<ChannelChange> changes;
  ASSERT_TRUE(SetTarget(c, Semver::Parse("15.2.0").value(), false, changes).ok());
  EXPECT_TRUE(StartsTargetEpoch(changes));
  changes.clear();
  ASSERT_TRUE(SetCritical(c, true, "cve", changes).ok());
  ASSERT_TRUE(SetPollInterval(c, absl::Seconds(30), changes).ok());
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_FALSE(StartsTargetEpoch(changes));
  changes.clear();
  ASSERT_TRUE(SetTarget(c, std::nullopt, false, changes).ok());
  EXPECT_TRUE(StartsTargetEpoch(changes));
}

TEST(PrepareNewChannelTest, DerivesEpochAndLastTarget) {
  Channel c;
  c.target_version = "15.2.0";
  c.target_allows_downgrade = true;
  PrepareNewChannel(c);
  EXPECT_EQ(c.target_epoch, 1);
  EXPECT_EQ(c.last_target_version, "15.2.0");
  EXPECT_FALSE(c.target_allows_downgrade);
  EXPECT_FALSE(c.last_target_allows_downgrade);
  Channel none;
  PrepareNewChannel(none);
  EXPECT_EQ(none.target_epoch, 0);
  EXPECT_FALSE(none.last_target_version.has_value());
}

}  // namespace
}  // namespace drover::rollout
