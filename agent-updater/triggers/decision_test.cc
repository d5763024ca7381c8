#include "agent-updater/triggers/decision.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/backoff.h"

namespace drover::updater {
namespace {

const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2026, 11, 23, 10, 30, 0), absl::UTCTimeZone());

DecisionInput Base() {
  DecisionInput in;
  in.installed = "1.0.0";
  in.target = "1.1.0";
  in.control_plane_version = "1.2.0";
  in.now = kNow;
  Schedule s;
  MaintenanceWindow w;
  w.utc_start_hour = 22;
  s.recurring = {w};
  in.schedule = s;
  return in;
}

TEST(DecisionTest, WaitsOutsideTheWindow) {
  Decision d = Decide(Base());
  EXPECT_EQ(d.action, Action::kWait);
  EXPECT_TRUE(absl::StrContains(d.reason, "2026-11-23T22:00:00Z")) << d.reason;
}

TEST(DecisionTest, EachTriggerAloneUpdates) {
  DecisionInput in = Base();
  in.critical = true;
  EXPECT_EQ(Decide(in).reason, "critical update");
  in = Base();
  in.healthy = false;
  EXPECT_EQ(Decide(in).reason, "agent unhealthy");
  in = Base();
  in.schedule.reset();
  EXPECT_EQ(Decide(in).reason, "no maintenance schedule known");
  in = Base();
  in.schedule->recurring[0].utc_start_hour = 10;
  EXPECT_EQ(Decide(in).reason, "inside maintenance window");
  in = Base();
  in.installed.reset();
  EXPECT_EQ(Decide(in).reason, "agent not installed");
  in = Base();
  in.schedule->recurring.clear();
  in.schedule->windows = {{kNow - absl::Hours(2), kNow - absl::Hours(1)}};
  EXPECT_EQ(Decide(in).action, Action::kUpdate);
}

TEST(DecisionTest, NothingToDo) {
  DecisionInput in = Base();
  in.target = "1.0.0";
  EXPECT_EQ(Decide(in).action, Action::kNothing);
  in = Base();
  in.target.reset();
  EXPECT_EQ(Decide(in).action, Action::kNothing);
  in = Base();
  in.critical = true;
  in.schedule->nop = true;
  EXPECT_EQ(Decide(in).action, Action::kNothing);
}

TEST(DecisionTest, RefusesOutOfPolicyAndUnmarkedDowngrade) {
  DecisionInput in = Base();
  in.target = "1.3.0";
  in.critical = true;
  EXPECT_EQ(Decide(in).action, Action::kRefuse);
  in.target = "v0.9.0";  // more than one major below? 0 vs 1: allowed; below installed without mark: refused
  EXPECT_EQ(Decide(in).action, Action::kRefuse);
  EXPECT_TRUE(absl::StrContains(Decide(in).reason, "roll-back")) << Decide(in).reason;
  in.downgrade_allowed = true;
  EXPECT_EQ(Decide(in).action, Action::kUpdate);
  in = Base();
  in.control_plane_version = "3.0.0";
  in.critical = true;
  EXPECT_EQ(Decide(in).action, Action::kRefuse);  // two majors below
  in = Base();
  in.target = "latest";
  EXPECT_EQ(Decide(in).action, Action::kRefuse);
}

// Held on a staged rollout's start version while already running something
// newer (reinstalled from a newer image, say): left alone, and not an error.
// Without the rollout's word, the same answer is a refused downgrade.
TEST(DecisionTest, HeldBackOnAnOlderStartVersionLeavesTheAgentAlone) {
  DecisionInput in = Base();
  in.target = "0.9.0";
  in.held_back = true;
  Decision d = Decide(in);
  EXPECT_EQ(d.action, Action::kNothing);
  EXPECT_TRUE(absl::StrContains(d.reason, "held on the rollout's start version 0.9.0")) << d.reason;
  in.held_back = false;
  EXPECT_EQ(Decide(in).action, Action::kRefuse);
  // Held back on a newer start version: installed like any target.
  in = Base();
  in.held_back = true;
  EXPECT_EQ(Decide(in).action, Decide(Base()).action);
}

TEST(DecisionTest, UnreachableCoordinatorLeavesHealthyAgentsAlone) {
  DecisionInput in = Base();
  in.coordinator_reachable = false;
  in.critical = true;
  EXPECT_EQ(Decide(in).action, Action::kWait);
  in.healthy = false;
  EXPECT_EQ(Decide(in).action, Action::kUpdate);
}

TEST(DecisionTest, RolledBackVersionWaits) {
  DecisionInput in = Base();
  in.critical = true;
  in.rolled_back_version = "1.1.0";
  EXPECT_EQ(Decide(in).action, Action::kWait);
  in.rolled_back_version = "1.0.5";
  EXPECT_EQ(Decide(in).action, Action::kUpdate);
}

TEST(DecisionTest, FailedInstallWaitsForItsRetryTimeEvenWhenCriticalOrUnhealthy) {
  DecisionInput in = Base();
  in.critical = true;
  in.healthy = false;
  in.failed_version = "1.1.0";
  in.failed_attempts = 2;
  in.failed_retry_time = kNow + absl::Minutes(10);
  Decision d = Decide(in);
  EXPECT_EQ(d.action, Action::kWait);
  EXPECT_TRUE(absl::StrContains(d.reason, "1.1.0 failed to install (2 attempts); next try after 2026-11-23T10:40:00Z"))
      << d.reason;
  EXPECT_TRUE(absl::StrContains(d.reason, "drover-updater clear")) << d.reason;
  // Its time has come, or the target is another version: tried.
  in.now = in.failed_retry_time;
  EXPECT_EQ(Decide(in).action, Action::kUpdate);
  in.now = kNow;
  in.target = "1.1.1";
  EXPECT_EQ(Decide(in).action, Action::kUpdate);
}

TEST(DecisionTest, FailedInstallRetryDelayGrowsToSixHours) {
  EXPECT_EQ(FailedInstallRetryDelay(1), absl::Minutes(5));
  EXPECT_EQ(FailedInstallRetryDelay(2), absl::Minutes(10));
  EXPECT_EQ(FailedInstallRetryDelay(4), absl::Minutes(40));
  EXPECT_EQ(FailedInstallRetryDelay(8), absl::Hours(6));
  EXPECT_EQ(FailedInstallRetryDelay(1000), absl::Hours(6));
}

TEST(ScheduleTest, ParsesTeleportFormat) {
  absl::StatusOr<Schedule> s = ParseTeleportSchedule(
      "# periodically exported by teleport, modifications are not preserved\n100 200\n300 400\n");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->nop);
  ASSERT_EQ(s->windows.size(), 2u);
  EXPECT_TRUE(s->InWindow(absl::FromUnixSeconds(150)));
  EXPECT_FALSE(s->InWindow(absl::FromUnixSeconds(200)));
  EXPECT_EQ(s->Next(absl::FromUnixSeconds(250))->start, absl::FromUnixSeconds(300));
  EXPECT_FALSE(s->HasCurrentOrFutureWindow(absl::FromUnixSeconds(400)));
  EXPECT_TRUE(ParseTeleportSchedule("nop\n")->nop);
  EXPECT_TRUE(ParseTeleportSchedule("")->windows.empty());
  for (const char* bad : {"100\n", "100 50\n", "a b\n", "1 2 3\n"}) {
    absl::StatusOr<Schedule> r = ParseTeleportSchedule(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "line 1")) << r.status();
  }
}

TEST(BackoffTest, GrowsToTheCapWithFullJitter) {
  double u = 0.999999;
  Backoff b(absl::Seconds(1), absl::Seconds(10), [&] { return u; });
  EXPECT_LT(b.Next(), absl::Seconds(1));
  EXPECT_GT(b.Next(), absl::Milliseconds(1990));
  EXPECT_GT(b.Next(), absl::Milliseconds(3990));
  EXPECT_GT(b.Next(), absl::Milliseconds(7990));
  EXPECT_LE(b.Next(), absl::Seconds(10));
  EXPECT_LE(b.Next(), absl::Seconds(10));
  u = 0;
  EXPECT_EQ(b.Next(), absl::ZeroDuration());  // full jitter reaches zero
  b.Reset();
  u = 0.5;
  EXPECT_EQ(b.Next(), absl::Milliseconds(500));
}

}  // namespace
}  // namespace drover::updater
