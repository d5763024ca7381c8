// What the signed per-channel answer holds of a staged rollout: the content
// a change is judged on, so that a change of mode is signed anew.
#include "coordinator/api/target_signer.h"

#include <gtest/gtest.h>

namespace drover::api {
namespace {

rollout::Channel Channel() {
  rollout::Channel c;
  c.id = "stable";
  c.target_version = "2.0.0";
  c.control_plane_version = "2.0.0";
  c.critical = true;
  c.rollout_id = 7;
  c.rollout_start_version = "1.9.0";
  return c;
}

TEST(TargetSignerContentTest, NamesTheStartVersionAndModeOfALiveRollout) {
  rollout::Channel c = Channel();
  c.rollout_mode = rollout::Channel::RolloutMode::kHolding;
  v1::TargetMetadata t = TargetSigner::ContentOf(c, "");
  EXPECT_EQ(t.target_version(), "2.0.0");
  EXPECT_TRUE(t.critical());
  EXPECT_EQ(t.rollout_mode(), v1::TargetMetadata::ROLLOUT_MODE_HOLDING);
  EXPECT_EQ(t.rollout_start_version(), "1.9.0");

  c.rollout_mode = rollout::Channel::RolloutMode::kRolledBack;
  t = TargetSigner::ContentOf(c, "");
  EXPECT_EQ(t.rollout_mode(), v1::TargetMetadata::ROLLOUT_MODE_ROLLED_BACK);
  EXPECT_EQ(t.rollout_start_version(), "1.9.0");
}

TEST(TargetSignerContentTest, WithoutARolloutHoldingHostsTheStartVersionIsNotSigned) {
  // A finished rollout keeps its start version in the channel; naming it
  // would let a coordinator tell hosts to go back to it.
  v1::TargetMetadata t = TargetSigner::ContentOf(Channel(), "");
  EXPECT_EQ(t.rollout_mode(), v1::TargetMetadata::ROLLOUT_MODE_UNSPECIFIED);
  EXPECT_EQ(t.rollout_start_version(), "");
}

TEST(TargetSignerContentTest, NamesTheListedGroupsWhenTheCatchAllIsOff) {
  rollout::Channel c = Channel();
  v1::TargetMetadata t = TargetSigner::ContentOf(c, "");
  EXPECT_FALSE(t.catch_all_off());
  EXPECT_EQ(t.listed_groups_size(), 0);
  const std::string on = t.SerializeAsString();
  c.rollout_catch_all_off = true;
  c.rollout_listed_groups = {"dev", "prod"};
  t = TargetSigner::ContentOf(c, "");
  EXPECT_TRUE(t.catch_all_off());
  EXPECT_EQ(std::vector<std::string>(t.listed_groups().begin(), t.listed_groups().end()),
            (std::vector<std::string>{"dev", "prod"}));
  EXPECT_NE(t.SerializeAsString(), on) << "turning it off must sign a new answer";
}

TEST(TargetSignerContentTest, EveryChangeOfModeChangesTheContent) {
  // The signer re-signs when the content differs from the stored one.
  rollout::Channel c = Channel();
  const std::string none = TargetSigner::ContentOf(c, "").SerializeAsString();
  c.rollout_mode = rollout::Channel::RolloutMode::kHolding;
  const std::string holding = TargetSigner::ContentOf(c, "").SerializeAsString();
  c.rollout_mode = rollout::Channel::RolloutMode::kRolledBack;
  const std::string rolled_back = TargetSigner::ContentOf(c, "").SerializeAsString();
  c.rollout_start_version = "1.8.0";
  const std::string other_start = TargetSigner::ContentOf(c, "").SerializeAsString();
  EXPECT_NE(none, holding);
  EXPECT_NE(holding, rolled_back);
  EXPECT_NE(none, rolled_back);
  EXPECT_NE(rolled_back, other_start);
}

}  // namespace
}  // namespace drover::api
