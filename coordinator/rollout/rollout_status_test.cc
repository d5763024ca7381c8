#include "coordinator/rollout/rollout_status.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/civil_time.h"

namespace drover::rollout {
namespace {

Channel StableChannel() {
  Channel c;
  c.id = "stable";
  c.control_plane_version = "15.2.0";
  c.target_version = "15.1.0";
  c.critical = true;
  c.target_updated_at = absl::FromCivil(absl::CivilDay(2026, 11, 20), absl::UTCTimeZone());
  return c;
}

std::vector<std::string> VersionOrder(const RolloutStatus& s) {
  std::vector<std::string> out;
  for (const VersionSummary& v : s.versions) out.push_back(v.version);
  return out;
}

const VersionSummary* Find(const RolloutStatus& s, const std::string& version) {
  for (const VersionSummary& v : s.versions) {
    if (v.version == version) return &v;
  }
  return nullptr;
}

TEST(ComputeRolloutStatusTest, SummarisesTheFleet) {
  Channel c = StableChannel();
  std::vector<VersionHealthCount> counts = {
      {"15.1.0", Health::kHealthy, 5}, {"15.0.0", Health::kHealthy, 3}, {"15.1.0", Health::kUnhealthy, 1},
      {"16.0.0", Health::kHealthy, 1},  // above the control plane
      {"13.0.0", Health::kUnhealthy, 2},  // two majors below
      {"14.9.0", Health::kHealthy, 0},    // empty rows are ignored
  };
  RolloutStatus s = ComputeRolloutStatus(c, counts, {}, 4);

  EXPECT_EQ(s.channel, "stable");
  EXPECT_EQ(s.target_version, "15.1.0");
  EXPECT_TRUE(s.critical);
  EXPECT_EQ(s.control_plane_version, "15.2.0");
  EXPECT_EQ(s.target_updated_at, c.target_updated_at);
  EXPECT_EQ(s.total_agents, 12);
  EXPECT_EQ(s.on_target, 6);
  EXPECT_EQ(s.healthy, 9);
  EXPECT_EQ(s.unhealthy, 3);
  EXPECT_EQ(s.stale, 4);
  EXPECT_EQ(s.out_of_policy, 3);
  EXPECT_DOUBLE_EQ(s.percent_on_target, 50.0);

  EXPECT_EQ(VersionOrder(s), (std::vector<std::string>{"16.0.0", "15.1.0", "15.0.0", "13.0.0"}));
  const VersionSummary* target = Find(s, "15.1.0");
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->agents, 6);
  EXPECT_EQ(target->healthy, 5);
  EXPECT_EQ(target->unhealthy, 1);
  EXPECT_TRUE(target->on_target);
  EXPECT_FALSE(target->out_of_policy);
  EXPECT_EQ(target->out_of_policy_reason, "");

  const VersionSummary* older = Find(s, "15.0.0");
  ASSERT_NE(older, nullptr);
  EXPECT_FALSE(older->on_target);
  EXPECT_FALSE(older->out_of_policy);

  const VersionSummary* above = Find(s, "16.0.0");
  ASSERT_NE(above, nullptr);
  EXPECT_TRUE(above->out_of_policy);
  EXPECT_TRUE(absl::StrContains(above->out_of_policy_reason, "above")) << above->out_of_policy_reason;

  const VersionSummary* below = Find(s, "13.0.0");
  ASSERT_NE(below, nullptr);
  EXPECT_TRUE(below->out_of_policy);
  EXPECT_EQ(below->unhealthy, 2);
  EXPECT_EQ(below->healthy, 0);
  EXPECT_TRUE(absl::StrContains(below->out_of_policy_reason, "below")) << below->out_of_policy_reason;

  EXPECT_EQ(Find(s, "14.9.0"), nullptr);
}

TEST(ComputeRolloutStatusTest, SortsBySemverPrecedenceNotText) {
  Channel c = StableChannel();
  c.control_plane_version = "2.0.0";
  c.target_version.reset();
  RolloutStatus s = ComputeRolloutStatus(c,
                                         {{"1.9.0", Health::kHealthy, 1},
                                          {"1.10.0", Health::kHealthy, 1},
                                          {"1.9.0-rc.1", Health::kHealthy, 1},
                                          {"1.9.0-rc.10", Health::kHealthy, 1},
                                          {"1.9.0-rc.9", Health::kHealthy, 1},
                                          {"2.0.0", Health::kHealthy, 1}},
                                         {}, 0);
  EXPECT_EQ(VersionOrder(s), (std::vector<std::string>{"2.0.0", "1.10.0", "1.9.0", "1.9.0-rc.10",
                                                       "1.9.0-rc.9", "1.9.0-rc.1"}));
}

TEST(ComputeRolloutStatusTest, UnparseableVersionIsOutOfPolicyAndListedLast) {
  Channel c = StableChannel();
  RolloutStatus s = ComputeRolloutStatus(
      c, {{"zzz", Health::kHealthy, 1}, {"15.0.0", Health::kHealthy, 2}, {"aaa", Health::kHealthy, 1}}, {}, 0);
  EXPECT_EQ(VersionOrder(s), (std::vector<std::string>{"15.0.0", "aaa", "zzz"}));
  EXPECT_EQ(s.out_of_policy, 2);
  const VersionSummary* bad = Find(s, "zzz");
  ASSERT_NE(bad, nullptr);
  EXPECT_TRUE(bad->out_of_policy);
  EXPECT_FALSE(bad->out_of_policy_reason.empty());
}

TEST(ComputeRolloutStatusTest, UnknownControlPlaneMakesEverythingOutOfPolicy) {
  Channel c = StableChannel();
  c.control_plane_version = "";
  RolloutStatus s = ComputeRolloutStatus(c, {{"15.1.0", Health::kHealthy, 2}}, {}, 0);
  EXPECT_EQ(s.out_of_policy, 2);
  ASSERT_EQ(s.versions.size(), 1u);
  EXPECT_TRUE(s.versions[0].out_of_policy);
}

TEST(ComputeRolloutStatusTest, CountsOutcomesByResult) {
  RolloutStatus s = ComputeRolloutStatus(StableChannel(), {},
                                         {{UpdateResult::kSucceeded, 3},
                                          {UpdateResult::kFailed, 2},
                                          {UpdateResult::kRolledBack, 1},
                                          {UpdateResult::kSucceeded, 4}},
                                         0);
  EXPECT_EQ(s.succeeded_since_target, 7);
  EXPECT_EQ(s.failed_since_target, 2);
  EXPECT_EQ(s.rolled_back_since_target, 1);
}

TEST(ComputeRolloutStatusTest, NoAgentsMeansZeroPercent) {
  RolloutStatus s = ComputeRolloutStatus(StableChannel(), {}, {}, 0);
  EXPECT_EQ(s.total_agents, 0);
  EXPECT_EQ(s.on_target, 0);
  EXPECT_TRUE(s.versions.empty());
  EXPECT_DOUBLE_EQ(s.percent_on_target, 0.0);
  EXPECT_EQ(s.succeeded_since_target, 0);
}

TEST(ComputeRolloutStatusTest, NoTargetMeansNothingOnTarget) {
  Channel c = StableChannel();
  c.target_version.reset();
  c.target_updated_at.reset();
  RolloutStatus s = ComputeRolloutStatus(c, {{"15.1.0", Health::kHealthy, 3}}, {}, 0);
  EXPECT_FALSE(s.target_version.has_value());
  EXPECT_FALSE(s.target_updated_at.has_value());
  EXPECT_EQ(s.total_agents, 3);
  EXPECT_EQ(s.on_target, 0);
  ASSERT_EQ(s.versions.size(), 1u);
  EXPECT_FALSE(s.versions[0].on_target);
  EXPECT_DOUBLE_EQ(s.percent_on_target, 0.0);
}

TEST(ComputeRolloutStatusTest, PercentIsAFraction) {
  RolloutStatus s = ComputeRolloutStatus(
      StableChannel(), {{"15.1.0", Health::kHealthy, 1}, {"15.0.0", Health::kHealthy, 2}}, {}, 0);
  EXPECT_DOUBLE_EQ(s.percent_on_target, 100.0 / 3.0);
  RolloutStatus all = ComputeRolloutStatus(StableChannel(), {{"15.1.0", Health::kUnhealthy, 4}}, {}, 0);
  EXPECT_DOUBLE_EQ(all.percent_on_target, 100.0);
}

TEST(OutOfPolicyVersionsTest, PicksBreakersInInputOrder) {
  EXPECT_EQ(OutOfPolicyVersions({"15.2.0", "15.2.1", "14.0.0", "13.9.9", "not-a-version", "15.2.0-rc.1",
                                 "16.0.0"},
                                "15.2.0"),
            (std::vector<std::string>{"15.2.1", "13.9.9", "not-a-version", "16.0.0"}));
  EXPECT_TRUE(OutOfPolicyVersions({}, "15.2.0").empty());
  EXPECT_TRUE(OutOfPolicyVersions({"15.2.0", "14.0.0"}, "15.2.0").empty());
}

TEST(OutOfPolicyVersionsTest, UnknownControlPlaneFlagsAll) {
  EXPECT_EQ(OutOfPolicyVersions({"1.0.0", "2.0.0"}, "garbage"),
            (std::vector<std::string>{"1.0.0", "2.0.0"}));
}

TEST(OutOfPolicyReasonForTest, OneRuleForStoredVersions) {
  EXPECT_EQ(OutOfPolicyReasonFor("15.2.0", "15.2.0"), "");
  EXPECT_TRUE(absl::StrContains(OutOfPolicyReasonFor("15.3.0", "15.2.0"), "above"));
  EXPECT_EQ(OutOfPolicyReasonFor("not-a-version", "15.2.0"), "not a valid version");
  EXPECT_EQ(OutOfPolicyReasonFor("15.2.0", "garbage"), "control-plane version unknown");
  // The filter and the reason agree.
  for (const char* v : {"15.2.0", "15.3.0", "13.0.0", "x"}) {
    EXPECT_EQ(OutOfPolicyVersions({v}, "15.2.0").empty(), OutOfPolicyReasonFor(v, "15.2.0").empty()) << v;
  }
}

}  // namespace
}  // namespace drover::rollout
