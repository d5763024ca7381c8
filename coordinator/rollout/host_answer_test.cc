#include "coordinator/rollout/host_answer.h"

#include "gtest/gtest.h"

namespace drover::rollout {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

Channel Web() {
  Channel c;
  c.id = "web";
  c.target_version = "2.0.0";
  c.critical = true;
  c.control_plane_version = "2.0.0";
  c.poll_interval = absl::Seconds(30);
  c.generation = 4;
  c.maintenance_windows.push_back({.weekdays = {2}, .utc_start_hour = 3, .duration = absl::Hours(2)});
  return c;
}

TEST(HostAnswerTest, WithoutARolloutEveryHostGetsTheChannelsAnswer) {
  const Channel c = Web();
  ASSERT_FALSE(AnswersPerHost(c));
  const AnswerFields a = HostAnswer(c, nullptr, "h1", "prod");
  EXPECT_EQ(a.target_version, "2.0.0");
  EXPECT_TRUE(a.critical);
  EXPECT_FALSE(a.held_back);
  EXPECT_EQ(a.control_plane_version, "2.0.0");
  EXPECT_EQ(a.poll_interval, absl::Seconds(30));
  EXPECT_EQ(a.channel_generation, 4);
  EXPECT_EQ(a.maintenance_windows, c.maintenance_windows);
  EXPECT_EQ(AnswerTag(a), AnswerTag(HostAnswer(c, nullptr, "h2", "db")));
}

TEST(HostAnswerTest, AStepChangesTheTagOfOnlyTheHostsItLetsIn) {
  RolloutPolicy policy;
  policy.groups = {{.name = "canary"}, {.name = "prod"}};
  Rollout r = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", policy, false, "", kT0);
  r.groups[0].state = GroupState::kActive;
  Channel c = Web();
  c.rollout_id = 1;
  c.rollout_mode = Channel::RolloutMode::kHolding;
  c.rollout_start_version = "1.0.0";
  ASSERT_TRUE(AnswersPerHost(c));
  absl::flat_hash_set<std::string> admitted;
  const RolloutView view{&r, &policy, &admitted};

  const AnswerFields held = HostAnswer(c, &view, "c1", "canary");
  EXPECT_EQ(held.target_version, "1.0.0");
  EXPECT_TRUE(held.held_back);
  EXPECT_FALSE(held.critical) << "a held-back host is not told the target is critical";
  const std::string c1_before = AnswerTag(held);
  const std::string c2_before = AnswerTag(HostAnswer(c, &view, "c2", "canary"));
  const std::string p1_before = AnswerTag(HostAnswer(c, &view, "p1", "prod"));

  admitted.insert("c1");
  const AnswerFields in = HostAnswer(c, &view, "c1", "canary");
  EXPECT_EQ(in.target_version, "2.0.0");
  EXPECT_FALSE(in.held_back);
  EXPECT_TRUE(in.critical);
  EXPECT_NE(AnswerTag(in), c1_before);
  EXPECT_EQ(AnswerTag(HostAnswer(c, &view, "c2", "canary")), c2_before);
  EXPECT_EQ(AnswerTag(HostAnswer(c, &view, "p1", "prod")), p1_before);
}

TEST(HostAnswerTest, CatchAllOffTellsUnlistedHostsNothing) {
  RolloutPolicy policy;
  policy.groups = {{.name = "prod"}};
  policy.catch_all = CatchAll::kOff;
  Channel c = Web();
  c.rollout_catch_all_off = true;
  c.rollout_listed_groups = {"prod"};
  const RolloutView view{nullptr, &policy, nullptr};
  EXPECT_EQ(HostAnswer(c, &view, "p1", "prod").target_version, "2.0.0");
  const AnswerFields off = HostAnswer(c, &view, "x1", "staging");
  EXPECT_EQ(off.target_version, "");
  EXPECT_TRUE(off.held_back);
}

}  // namespace
}  // namespace drover::rollout
