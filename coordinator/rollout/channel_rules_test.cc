#include "coordinator/rollout/channel_rules.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::rollout {
namespace {

using ::drover::testing::IsError;

Semver V(absl::string_view text) {
  absl::StatusOr<Semver> v = Semver::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : Semver();
}

MaintenanceWindow Window(std::vector<int> weekdays, int hour, absl::Duration duration) {
  MaintenanceWindow w;
  w.weekdays = std::move(weekdays);
  w.utc_start_hour = hour;
  w.duration = duration;
  return w;
}

class ChannelRulesTest : public ::testing::Test {
 protected:
  ChannelRulesTest() {
    channel_.id = "stable";
    channel_.control_plane_version = "15.2.0";
  }
  // Sets a starting target without recording it.
  void StartAt(const std::string& target) {
    channel_.target_version = target;
    channel_.target_allows_downgrade = false;
  }
  // Refusals must leave the channel exactly as it was.
  void ExpectUnchanged(const Channel& before) {
    EXPECT_EQ(channel_.target_version, before.target_version);
    EXPECT_EQ(channel_.last_target_version, before.last_target_version);
    EXPECT_EQ(channel_.target_allows_downgrade, before.target_allows_downgrade);
    EXPECT_EQ(channel_.last_target_allows_downgrade, before.last_target_allows_downgrade);
    EXPECT_EQ(channel_.poll_interval, before.poll_interval);
    EXPECT_EQ(channel_.control_plane_version, before.control_plane_version);
    EXPECT_EQ(channel_.critical, before.critical);
    EXPECT_EQ(channel_.critical_reason, before.critical_reason);
    EXPECT_EQ(channel_.maintenance_windows, before.maintenance_windows);
    EXPECT_TRUE(changes_.empty());
  }

  Channel channel_;
  std::vector<ChannelChange> changes_;
};

TEST_F(ChannelRulesTest, SetTargetRecordsTheChange) {
  ASSERT_TRUE(SetTarget(channel_, V("v15.1.0"), false, changes_).ok());
  EXPECT_EQ(channel_.target_version, "15.1.0");
  EXPECT_FALSE(channel_.target_allows_downgrade);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].field, "target_version");
  EXPECT_EQ(changes_[0].old_value, "none");
  EXPECT_EQ(changes_[0].new_value, "15.1.0");
}

TEST_F(ChannelRulesTest, SetTargetUpgradeRecordsOldAndNew) {
  StartAt("15.0.0");
  ASSERT_TRUE(SetTarget(channel_, V("15.2.0"), false, changes_).ok());
  EXPECT_EQ(channel_.target_version, "15.2.0");
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].old_value, "15.0.0");
  EXPECT_EQ(changes_[0].new_value, "15.2.0");
}

TEST_F(ChannelRulesTest, SetTargetAllowsOneMajorBelowControlPlane) {
  ASSERT_TRUE(SetTarget(channel_, V("14.0.0"), false, changes_).ok());
  EXPECT_EQ(channel_.target_version, "14.0.0");
}

TEST_F(ChannelRulesTest, SetTargetAboveControlPlaneRefused) {
  StartAt("15.1.0");
  const Channel before = channel_;
  absl::Status s = SetTarget(channel_, V("15.3.0"), false, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"15.3.0", "15.2.0"}));
  ExpectUnchanged(before);
  // allow_downgrade does not bypass the version rules.
  s = SetTarget(channel_, V("16.0.0"), true, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"16.0.0", "15.2.0"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, SetTargetTwoMajorsBelowRefused) {
  StartAt("15.1.0");
  const Channel before = channel_;
  absl::Status s = SetTarget(channel_, V("13.9.0"), true, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"13.9.0", "15.2.0"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, DowngradeRefusedWithoutAllowDowngrade) {
  StartAt("15.1.0");
  const Channel before = channel_;
  absl::Status s = SetTarget(channel_, V("15.0.0"), false, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"15.0.0", "15.1.0", "allow_downgrade"}));
  ExpectUnchanged(before);
  // A pre-release of the current target is below it too.
  s = SetTarget(channel_, V("15.1.0-rc.1"), false, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"15.1.0-rc.1", "15.1.0"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, ClearingTheTargetDoesNotOpenAWayToRollBack) {
  StartAt("15.1.0");
  channel_.last_target_version = "15.1.0";
  ASSERT_TRUE(SetTarget(channel_, std::nullopt, false, changes_).ok());
  EXPECT_FALSE(channel_.target_version.has_value());
  EXPECT_EQ(channel_.last_target_version, "15.1.0");
  changes_.clear();
  const Channel before = channel_;
  absl::Status s = SetTarget(channel_, V("15.0.0"), false, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"15.0.0", "last target", "15.1.0", "allow_downgrade"}));
  ExpectUnchanged(before);

  ASSERT_TRUE(SetTarget(channel_, V("15.0.0"), true, changes_).ok());
  EXPECT_TRUE(channel_.target_allows_downgrade);
  EXPECT_EQ(channel_.last_target_version, "15.0.0");
  EXPECT_EQ(changes_.back().old_value, "none");
  EXPECT_EQ(changes_.back().new_value, "15.0.0 (downgrade)");
}

TEST_F(ChannelRulesTest, ATargetAtOrAboveTheLastOneAfterAClearIsNoRollBack) {
  channel_.last_target_version = "15.1.0";
  ASSERT_TRUE(SetTarget(channel_, V("15.1.0"), false, changes_).ok());
  EXPECT_FALSE(channel_.target_allows_downgrade);
  ASSERT_TRUE(SetTarget(channel_, std::nullopt, false, changes_).ok());
  ASSERT_TRUE(SetTarget(channel_, V("15.2.0"), false, changes_).ok());
  EXPECT_FALSE(channel_.target_allows_downgrade);
  EXPECT_EQ(channel_.last_target_version, "15.2.0");
}

TEST_F(ChannelRulesTest, DowngradeAllowedWhenAsked) {
  StartAt("15.1.0");
  ASSERT_TRUE(SetTarget(channel_, V("15.0.0"), true, changes_).ok());
  EXPECT_EQ(channel_.target_version, "15.0.0");
  EXPECT_TRUE(channel_.target_allows_downgrade);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].field, "target_version");
  EXPECT_EQ(changes_[0].old_value, "15.1.0");
  EXPECT_EQ(changes_[0].new_value, "15.0.0 (downgrade)");
}

TEST_F(ChannelRulesTest, AllowDowngradeOnAnUpgradeDoesNotMarkDowngrade) {
  StartAt("15.0.0");
  ASSERT_TRUE(SetTarget(channel_, V("15.1.0"), true, changes_).ok());
  EXPECT_FALSE(channel_.target_allows_downgrade);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].new_value, "15.1.0");
}

TEST_F(ChannelRulesTest, UpgradeAfterDowngradeClearsTheDowngradeFlag) {
  StartAt("15.1.0");
  ASSERT_TRUE(SetTarget(channel_, V("15.0.0"), true, changes_).ok());
  ASSERT_TRUE(channel_.target_allows_downgrade);
  ASSERT_TRUE(SetTarget(channel_, V("15.2.0"), false, changes_).ok());
  EXPECT_FALSE(channel_.target_allows_downgrade);
  EXPECT_EQ(changes_.size(), 2u);
}

TEST_F(ChannelRulesTest, SameTargetIsNoChange) {
  StartAt("15.1.0");
  ASSERT_TRUE(SetTarget(channel_, V("15.1.0"), false, changes_).ok());
  ASSERT_TRUE(SetTarget(channel_, V("v15.1.0"), true, changes_).ok());
  EXPECT_EQ(channel_.target_version, "15.1.0");
  EXPECT_FALSE(channel_.target_allows_downgrade);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(ChannelRulesTest, ClearingTheTarget) {
  StartAt("15.1.0");
  ASSERT_TRUE(SetTarget(channel_, V("15.0.0"), true, changes_).ok());
  changes_.clear();
  ASSERT_TRUE(SetTarget(channel_, std::nullopt, false, changes_).ok());
  EXPECT_FALSE(channel_.target_version.has_value());
  EXPECT_FALSE(channel_.target_allows_downgrade);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].old_value, "15.0.0");
  EXPECT_EQ(changes_[0].new_value, "none");
  // Clearing again changes nothing.
  ASSERT_TRUE(SetTarget(channel_, std::nullopt, false, changes_).ok());
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(ChannelRulesTest, SetTargetWithUnreadableControlPlaneIsInternal) {
  channel_.control_plane_version = "garbage";
  const Channel before = channel_;
  absl::Status s = SetTarget(channel_, V("1.0.0"), false, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kInternal, {"stable", "garbage"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, RaisingCriticalNeedsAReason) {
  const Channel before = channel_;
  absl::Status s = SetCritical(channel_, true, "", changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kInvalidArgument, {"reason", "stable"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, RaiseAndLowerCritical) {
  ASSERT_TRUE(SetCritical(channel_, true, "CVE-2026-1234", changes_).ok());
  EXPECT_TRUE(channel_.critical);
  EXPECT_EQ(channel_.critical_reason, "CVE-2026-1234");
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].field, "critical");
  EXPECT_EQ(changes_[0].old_value, "lowered");
  EXPECT_EQ(changes_[0].new_value, "raised: CVE-2026-1234");

  // Raising again with the same reason is no change.
  ASSERT_TRUE(SetCritical(channel_, true, "CVE-2026-1234", changes_).ok());
  EXPECT_EQ(changes_.size(), 1u);

  ASSERT_TRUE(SetCritical(channel_, false, "", changes_).ok());
  EXPECT_FALSE(channel_.critical);
  EXPECT_EQ(channel_.critical_reason, "");
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[1].old_value, "raised: CVE-2026-1234");
  EXPECT_EQ(changes_[1].new_value, "lowered");

  // Lowering what is lowered is no change.
  ASSERT_TRUE(SetCritical(channel_, false, "", changes_).ok());
  EXPECT_EQ(changes_.size(), 2u);
}

TEST_F(ChannelRulesTest, NewReasonWhileRaisedIsRecorded) {
  ASSERT_TRUE(SetCritical(channel_, true, "first", changes_).ok());
  ASSERT_TRUE(SetCritical(channel_, true, "second", changes_).ok());
  EXPECT_EQ(channel_.critical_reason, "second");
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[1].old_value, "raised: first");
  EXPECT_EQ(changes_[1].new_value, "raised: second");
}

TEST_F(ChannelRulesTest, SetControlPlaneRecordsTheChange) {
  StartAt("15.1.0");
  ASSERT_TRUE(SetControlPlane(channel_, V("v16.0.0"), changes_).ok());
  EXPECT_EQ(channel_.control_plane_version, "16.0.0");
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].field, "control_plane_version");
  EXPECT_EQ(changes_[0].old_value, "15.2.0");
  EXPECT_EQ(changes_[0].new_value, "16.0.0");
  // Same version again: no change.
  ASSERT_TRUE(SetControlPlane(channel_, V("16.0.0"), changes_).ok());
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(ChannelRulesTest, SetControlPlaneRefusedWhenTargetWouldFallTooFarBehind) {
  StartAt("15.1.0");
  const Channel before = channel_;
  absl::Status s = SetControlPlane(channel_, V("17.0.0"), changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"17.0.0", "15.1.0", "stable"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, SetControlPlaneRefusedWhenTargetWouldBeAbove) {
  StartAt("15.1.0");
  const Channel before = channel_;
  absl::Status s = SetControlPlane(channel_, V("15.0.0"), changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"15.0.0", "15.1.0"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, SetControlPlaneWithoutTargetIsFree) {
  ASSERT_TRUE(SetControlPlane(channel_, V("1.0.0"), changes_).ok());
  EXPECT_EQ(channel_.control_plane_version, "1.0.0");
  ASSERT_TRUE(SetControlPlane(channel_, V("99.0.0"), changes_).ok());
  EXPECT_EQ(channel_.control_plane_version, "99.0.0");
  EXPECT_EQ(changes_.size(), 2u);
}

TEST_F(ChannelRulesTest, SetWindowsValidates) {
  channel_.maintenance_windows = {Window({1}, 2, absl::Hours(1))};
  const Channel before = channel_;
  absl::Status s = SetWindows(channel_, {Window({2}, 3, absl::Hours(1)), Window({}, 24, absl::Hours(1))},
                              changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kInvalidArgument, {"24"}));
  ExpectUnchanged(before);
  s = SetWindows(channel_, {Window({}, 3, absl::Seconds(30))}, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kInvalidArgument, {"30s"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, SetWindowsRecordsTheChange) {
  std::vector<MaintenanceWindow> windows = {Window({1, 3}, 2, absl::Hours(1)),
                                            Window({}, 22, absl::Minutes(30))};
  ASSERT_TRUE(SetWindows(channel_, windows, changes_).ok());
  EXPECT_EQ(channel_.maintenance_windows, windows);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].field, "maintenance_windows");
  EXPECT_EQ(changes_[0].old_value, "none");
  EXPECT_EQ(changes_[0].new_value, "Mon,Wed 02:00 UTC +1h; daily 22:00 UTC +30m");
  // Same windows: no change. Clearing: recorded.
  ASSERT_TRUE(SetWindows(channel_, windows, changes_).ok());
  EXPECT_EQ(changes_.size(), 1u);
  ASSERT_TRUE(SetWindows(channel_, {}, changes_).ok());
  EXPECT_TRUE(channel_.maintenance_windows.empty());
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[1].new_value, "none");
}

// Issue 12 item 10: clearing a roll-back target and setting it again must
// not quietly drop the roll-back (agents still above it would never come down).
TEST_F(ChannelRulesTest, SettingAClearedRollBackTargetAgainIsStillARollBack) {
  StartAt("15.2.0");
  ASSERT_TRUE(SetTarget(channel_, V("15.1.0"), true, changes_).ok());
  ASSERT_TRUE(SetTarget(channel_, std::nullopt, false, changes_).ok());
  EXPECT_TRUE(channel_.last_target_allows_downgrade);
  EXPECT_FALSE(channel_.target_allows_downgrade);
  const Channel before = channel_;
  changes_.clear();
  absl::Status s = SetTarget(channel_, V("15.1.0"), false, changes_);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"15.1.0", "roll-back", "allow_downgrade", "stable"}));
  ExpectUnchanged(before);

  ASSERT_TRUE(SetTarget(channel_, V("15.1.0"), true, changes_).ok());
  EXPECT_TRUE(channel_.target_allows_downgrade);
  EXPECT_TRUE(channel_.last_target_allows_downgrade);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].new_value, "15.1.0 (downgrade)");
}

TEST_F(ChannelRulesTest, SettingAClearedPlainTargetAgainNeedsNoFlag) {
  StartAt("15.1.0");
  channel_.last_target_version = "15.1.0";
  ASSERT_TRUE(SetTarget(channel_, std::nullopt, false, changes_).ok());
  ASSERT_TRUE(SetTarget(channel_, V("15.1.0"), false, changes_).ok());
  EXPECT_FALSE(channel_.target_allows_downgrade);
  // Moving up from a roll-back ends it, cleared or not.
  ASSERT_TRUE(SetTarget(channel_, V("15.0.0"), true, changes_).ok());
  ASSERT_TRUE(SetTarget(channel_, V("15.2.0"), false, changes_).ok());
  EXPECT_FALSE(channel_.last_target_allows_downgrade);
  ASSERT_TRUE(SetTarget(channel_, std::nullopt, false, changes_).ok());
  ASSERT_TRUE(SetTarget(channel_, V("15.2.0"), false, changes_).ok());
  EXPECT_FALSE(channel_.target_allows_downgrade);
}

// Issue 12 item 11: a reason must say something.
TEST_F(ChannelRulesTest, RaisingCriticalWithABlankReasonIsRefused) {
  const Channel before = channel_;
  for (const std::string blank : {"   ", "\t", "\xc2\xa0" /* U+00A0 */, "\xe3\x80\x80" /* U+3000 */,
                                  " \xe2\x80\x8b " /* U+200B */}) {
    absl::Status s = SetCritical(channel_, true, blank, changes_);
    EXPECT_TRUE(IsError(s, absl::StatusCode::kInvalidArgument, {"reason", "blank", "stable"})) << blank;
    ExpectUnchanged(before);
  }
  ASSERT_TRUE(SetCritical(channel_, true, "\xe3\x80\x80" "CVE-2026-1 ", changes_).ok());
  EXPECT_EQ(channel_.critical_reason, "CVE-2026-1");
}

// Issue 12 item 17: a request that changes nothing records nothing.
TEST_F(ChannelRulesTest, LoweringALoweredToggleIsNoChangeWhateverTheReason) {
  ASSERT_TRUE(SetCritical(channel_, false, "nothing to do", changes_).ok());
  EXPECT_TRUE(changes_.empty());
  ASSERT_TRUE(SetCritical(channel_, true, "CVE-2026-1234", changes_).ok());
  ASSERT_TRUE(SetCritical(channel_, false, "fixed everywhere", changes_).ok());
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[1].new_value, "lowered: fixed everywhere");
  const Channel before = channel_;
  changes_.clear();
  ASSERT_TRUE(SetCritical(channel_, false, "", changes_).ok());
  ASSERT_TRUE(SetCritical(channel_, false, "again", changes_).ok());
  ExpectUnchanged(before);
  EXPECT_EQ(channel_.critical_reason, "fixed everywhere");
}

TEST_F(ChannelRulesTest, SetPollIntervalRecordsTheChangeWithinTheCreationBounds) {
  ASSERT_EQ(channel_.poll_interval, kDefaultPollInterval);
  ASSERT_TRUE(SetPollInterval(channel_, absl::Seconds(30), changes_).ok());
  EXPECT_EQ(channel_.poll_interval, absl::Seconds(30));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].field, "poll_interval");
  EXPECT_EQ(changes_[0].old_value, "1m");
  EXPECT_EQ(changes_[0].new_value, "30s");
  ASSERT_TRUE(SetPollInterval(channel_, absl::Seconds(30), changes_).ok());
  EXPECT_EQ(changes_.size(), 1u);  // the same: no change

  const Channel before = channel_;
  changes_.clear();
  for (absl::Duration bad : {absl::ZeroDuration(), kMinPollInterval - absl::Milliseconds(1),
                             kMaxPollInterval + absl::Seconds(1), absl::Seconds(5) + absl::Microseconds(1)}) {
    EXPECT_TRUE(IsError(SetPollInterval(channel_, bad, changes_), absl::StatusCode::kInvalidArgument,
                        {"poll_interval", absl::FormatDuration(bad), "1s", "24h"}));
    ExpectUnchanged(before);
  }
  ASSERT_TRUE(SetPollInterval(channel_, kMaxPollInterval, changes_).ok());
  ASSERT_TRUE(SetPollInterval(channel_, kMinPollInterval, changes_).ok());
}

// ---- following the control plane (Teleport's stable/rolling)

TEST_F(ChannelRulesTest, FollowingSetsTheTargetToTheControlPlaneAndStartsARollout) {
  StartAt("15.0.0");
  ASSERT_TRUE(SetFollowsControlPlane(channel_, true, changes_).ok());
  EXPECT_TRUE(channel_.follows_control_plane);
  EXPECT_EQ(channel_.target_version, "15.2.0");
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[0].field, "follows_control_plane");
  EXPECT_EQ(changes_[0].new_value, "true");
  EXPECT_EQ(changes_[1].field, "target_version");
  EXPECT_EQ(changes_[1].old_value, "15.0.0");
  EXPECT_EQ(changes_[1].new_value, "15.2.0 (follows the control plane)");
  EXPECT_TRUE(changes_[1].starts_rollout);
  EXPECT_TRUE(changes_[1].starts_target_epoch);
}

TEST_F(ChannelRulesTest, FollowingWhenAlreadyOnTheControlPlaneChangesOnlyTheFlag) {
  StartAt("15.2.0");
  ASSERT_TRUE(SetFollowsControlPlane(channel_, true, changes_).ok());
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].field, "follows_control_plane");
  changes_.clear();
  ASSERT_TRUE(SetFollowsControlPlane(channel_, true, changes_).ok());
  EXPECT_TRUE(changes_.empty());
}

TEST_F(ChannelRulesTest, AFollowingChannelsTargetMovesWithTheControlPlane) {
  StartAt("15.2.0");
  channel_.follows_control_plane = true;
  ASSERT_TRUE(SetControlPlane(channel_, V("16.0.1"), changes_).ok());
  EXPECT_EQ(channel_.control_plane_version, "16.0.1");
  EXPECT_EQ(channel_.target_version, "16.0.1");
  EXPECT_FALSE(channel_.target_allows_downgrade);
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[0].field, "control_plane_version");
  EXPECT_EQ(changes_[1].field, "target_version");
  EXPECT_TRUE(changes_[1].starts_rollout);
}

TEST_F(ChannelRulesTest, AFollowingChannelComesDownWithTheControlPlane) {
  StartAt("15.2.0");
  channel_.follows_control_plane = true;
  // A control plane two majors below the target would otherwise be refused.
  ASSERT_TRUE(SetControlPlane(channel_, V("14.3.0"), changes_).ok());
  EXPECT_EQ(channel_.target_version, "14.3.0");
  EXPECT_TRUE(channel_.target_allows_downgrade);
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[1].new_value, "14.3.0 (downgrade) (follows the control plane)");
}

TEST_F(ChannelRulesTest, SetTargetOnAFollowingChannelIsRefused) {
  StartAt("15.2.0");
  channel_.follows_control_plane = true;
  const Channel before = channel_;
  EXPECT_TRUE(IsError(SetTarget(channel_, V("15.1.0"), true, changes_), absl::StatusCode::kFailedPrecondition,
                      {"\"stable\"", "follows its control plane", "15.2.0"}));
  EXPECT_TRUE(IsError(SetTarget(channel_, std::nullopt, false, changes_), absl::StatusCode::kFailedPrecondition,
                      {"follows its control plane"}));
  ExpectUnchanged(before);
}

TEST_F(ChannelRulesTest, StoppingFollowingKeepsTheTarget) {
  StartAt("15.2.0");
  channel_.follows_control_plane = true;
  ASSERT_TRUE(SetFollowsControlPlane(channel_, false, changes_).ok());
  EXPECT_FALSE(channel_.follows_control_plane);
  EXPECT_EQ(channel_.target_version, "15.2.0");
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].old_value, "true");
  EXPECT_EQ(changes_[0].new_value, "false");
  changes_.clear();
  ASSERT_TRUE(SetTarget(channel_, V("15.1.0"), true, changes_).ok());
  ASSERT_TRUE(SetControlPlane(channel_, V("15.3.0"), changes_).ok());
  EXPECT_EQ(channel_.target_version, "15.1.0");
}

TEST_F(ChannelRulesTest, NewFollowingChannelTakesTheControlPlaneAsTarget) {
  channel_.follows_control_plane = true;
  EXPECT_TRUE(ValidateNewFollowingChannel(channel_).ok());
  PrepareNewChannel(channel_);
  EXPECT_EQ(channel_.target_version, "15.2.0");
  EXPECT_EQ(channel_.last_target_version, "15.2.0");

  Channel named;
  named.id = "stable/rolling";
  named.control_plane_version = "15.2.0";
  named.follows_control_plane = true;
  named.target_version = "15.2.0";
  EXPECT_TRUE(ValidateNewFollowingChannel(named).ok());
  named.target_version = "15.1.0";
  EXPECT_TRUE(IsError(ValidateNewFollowingChannel(named), absl::StatusCode::kInvalidArgument,
                      {"\"stable/rolling\"", "15.1.0", "15.2.0"}));
  named.follows_control_plane = false;
  EXPECT_TRUE(ValidateNewFollowingChannel(named).ok());
}

}  // namespace
}  // namespace drover::rollout
