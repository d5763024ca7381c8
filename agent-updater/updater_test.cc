// The updater's pass logic with fakes for the coordinator, installer and
// health check, a fake clock, and a real state directory.
#include "agent-updater/updater.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/subprocess.h"

namespace drover::updater {
namespace {

class FakeCoordinator final : public CoordinatorClient {
 public:
  absl::StatusOr<v1::GetTargetResponse> GetTarget(const v1::GetTargetRequest& request) override {
    last_get = request;
    if (!reachable) return absl::UnavailableError("connection refused");
    return target;
  }
  absl::StatusOr<v1::ReportStatusResponse> ReportStatus(const v1::ReportStatusRequest& request) override {
    if (!reachable) return absl::UnavailableError("connection refused");
    v1::ReportStatusResponse resp;
    if (request.sequence() < stored_sequence) {
      resp.set_disposition(v1::ReportStatusResponse::DISPOSITION_OUT_OF_ORDER);
      resp.set_stored_sequence(stored_sequence);
      return resp;
    }
    if (request.sequence() == stored_sequence) {
      resp.set_disposition(v1::ReportStatusResponse::DISPOSITION_DUPLICATE);
    } else {
      resp.set_disposition(v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
      stored_sequence = request.sequence();
      for (const v1::UpdateOutcome& o : request.outcomes()) outcomes.push_back(o);
      reports.push_back(request);
    }
    resp.set_stored_sequence(stored_sequence);
    if (lose_next_ack) {
      lose_next_ack = false;
      return absl::DeadlineExceededError("ack lost");
    }
    return resp;
  }

  bool reachable = true;
  bool lose_next_ack = false;
  int64_t stored_sequence = 0;
  v1::GetTargetResponse target;
  v1::GetTargetRequest last_get;
  std::vector<v1::UpdateOutcome> outcomes;  // stored ones
  std::vector<v1::ReportStatusRequest> reports;
};

class FakeInstaller final : public Installer {
 public:
  std::string Name() const override { return "fake"; }
  absl::StatusOr<std::optional<std::string>> InstalledVersion() override { return installed; }
  absl::Status Install(const std::string& version) override {
    installs.push_back(version);
    if (fail_install) return absl::PermissionDeniedError("signature does not verify");
    installed = version;
    return absl::OkStatus();
  }
  absl::Status Rollback(const std::string& previous) override {
    rollbacks.push_back(previous);
    installed = previous;
    return absl::OkStatus();
  }
  std::optional<std::string> installed = "1.0.0";
  bool fail_install = false;
  std::vector<std::string> installs, rollbacks;
};

// Healthy unless the installed version is in `bad`.
class FakeHealth final : public HealthCheck {
 public:
  explicit FakeHealth(FakeInstaller* installer) : installer_(installer) {}
  std::string Name() const override { return "fake"; }
  absl::Status Check() override {
    if (down || (installer_->installed && bad.contains(*installer_->installed))) {
      return absl::UnavailableError("GET /readyz: 503");
    }
    return absl::OkStatus();
  }
  bool down = false;
  std::set<std::string> bad;

 private:
  FakeInstaller* installer_;
};

// 2026-11-23 is a Monday; 10:30 UTC.
const absl::Time kMonday1030 = absl::FromCivil(absl::CivilSecond(2026, 11, 23, 10, 30, 0), absl::UTCTimeZone());

class UpdaterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/drover-updater-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::make_unique<StateStore>(dir_ + "/state");
    ASSERT_TRUE(store_->Init().ok());
    config_.set_coordinator("127.0.0.1:1");
    config_.set_channel("stable");
    config_.set_host_id("host-1");
    config_.set_state_dir(dir_ + "/state");
    config_.mutable_agent()->set_name("demo");
    config_.mutable_agent()->mutable_health_watch()->set_seconds(10);
    config_.mutable_agent()->mutable_health_grace()->set_seconds(5);
    coordinator_.target.set_target_version("1.1.0");
    coordinator_.target.set_control_plane_version("1.2.0");
    coordinator_.target.mutable_poll_interval()->set_seconds(60);
  }
  void TearDown() override { RunCommand({"rm", "-rf", dir_}).IgnoreError(); }

  Updater MakeUpdater() {
    UpdaterDeps deps;
    deps.coordinator = &coordinator_;
    deps.installer = &installer_;
    deps.health = &health_;
    deps.state = store_.get();
    deps.clock = &clock_;
    deps.restart = [this] {
      ++restarts_;
      return absl::OkStatus();
    };
    deps.pause = [this](absl::Duration d) { clock_.Advance(d); };
    return Updater(config_, deps);
  }

  PassResult Pass() {
    Updater u = MakeUpdater();
    absl::StatusOr<PassResult> r = u.RunPass();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : PassResult{};
  }

  void SetWindow(int start_hour, int hours) {
    coordinator_.target.clear_maintenance_windows();
    v1::MaintenanceWindow* w = coordinator_.target.add_maintenance_windows();
    w->set_utc_start_hour(start_hour);
    w->mutable_duration()->set_seconds(hours * 3600);
  }

  std::string dir_;
  std::unique_ptr<StateStore> store_;
  v1::UpdaterConfig config_;
  FakeCoordinator coordinator_;
  FakeInstaller installer_;
  FakeHealth health_{&installer_};
  FakeClock clock_{kMonday1030};
  int restarts_ = 0;
};

TEST_F(UpdaterTest, InsideWindowUpdatesAndReports) {
  SetWindow(10, 1);
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kUpdate);
  EXPECT_EQ(r.decision.reason, "inside maintenance window");
  EXPECT_EQ(installer_.installed, "1.1.0");
  EXPECT_EQ(restarts_, 1);
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_EQ(coordinator_.outcomes[0].result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_EQ(coordinator_.outcomes[0].from_version(), "1.0.0");
  EXPECT_EQ(coordinator_.reports.back().current_version(), "1.1.0");
  EXPECT_EQ(coordinator_.reports.back().channel(), "channels/stable");
  EXPECT_EQ(coordinator_.last_get.host_id(), "host-1");
  EXPECT_TRUE(r.delivered);
}

TEST_F(UpdaterTest, OutsideWindowWaits) {
  SetWindow(22, 1);
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kWait);
  EXPECT_TRUE(absl::StrContains(r.decision.reason, "next opens 2026-11-23T22:00:00Z")) << r.decision.reason;
  EXPECT_TRUE(installer_.installs.empty());
  // Still reports its state.
  ASSERT_EQ(coordinator_.reports.size(), 1u);
  EXPECT_EQ(coordinator_.reports[0].current_version(), "1.0.0");
}

TEST_F(UpdaterTest, CriticalUnhealthyAndNoScheduleUpdateAtOnce) {
  SetWindow(22, 1);
  coordinator_.target.set_critical(true);
  EXPECT_EQ(Pass().decision.reason, "critical update");

  installer_.installed = "1.0.0";
  coordinator_.target.set_critical(false);
  health_.down = true;
  installer_.installs.clear();
  // Unhealthy: update at once (and it stays down, so it is rolled back).
  PassResult r = Pass();
  EXPECT_EQ(r.decision.reason, "agent unhealthy");
  health_.down = false;

  FakeInstaller fresh;
  installer_.installed = "1.0.0";
  coordinator_.target.clear_maintenance_windows();
  store_->Save(v1::UpdaterState()).IgnoreError();
  EXPECT_EQ(Pass().decision.reason, "no maintenance schedule known");
}

TEST_F(UpdaterTest, ScheduleFileRulesIncludingNop) {
  const std::string file = dir_ + "/schedule";
  config_.set_schedule_file(file);
  SetWindow(10, 1);  // ignored: the file is the schedule
  const int64_t now = absl::ToUnixSeconds(kMonday1030);
  auto write = [&](const std::string& text) {
    FILE* f = fopen(file.c_str(), "w");
    fputs(text.c_str(), f);
    fclose(f);
  };
  write(absl::StrCat("# periodically exported by teleport, modifications are not preserved\n", now + 3600, " ",
                     now + 7200, "\n"));
  EXPECT_EQ(Pass().decision.action, Action::kWait);
  write("nop\n");
  EXPECT_EQ(Pass().decision.action, Action::kNothing);
  EXPECT_TRUE(installer_.installs.empty());
  // Only past windows: no current or future window -> update at once.
  write(absl::StrCat(now - 7200, " ", now - 3600, "\n"));
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kUpdate);
  EXPECT_TRUE(absl::StrContains(r.decision.reason, "no current or future")) << r.decision.reason;
}

TEST_F(UpdaterTest, RefusesTargetsBreakingTheRulesAndUnmarkedDowngrades) {
  coordinator_.target.set_target_version("1.3.0");  // above control plane 1.2.0
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kRefuse);
  EXPECT_TRUE(absl::StrContains(r.decision.reason, "1.3.0")) << r.decision.reason;

  installer_.installed = "1.2.0";
  coordinator_.target.set_target_version("1.1.0");
  r = Pass();
  EXPECT_EQ(r.decision.action, Action::kRefuse);
  EXPECT_TRUE(absl::StrContains(r.decision.reason, "roll-back")) << r.decision.reason;
  EXPECT_TRUE(installer_.installs.empty());

  coordinator_.target.set_downgrade_allowed(true);
  EXPECT_EQ(Pass().decision.action, Action::kUpdate);
  EXPECT_EQ(installer_.installed, "1.1.0");
}

TEST_F(UpdaterTest, UnhealthyNewVersionIsRolledBackAndNotRetried) {
  health_.bad = {"1.1.0"};
  PassResult r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_ROLLED_BACK);
  EXPECT_TRUE(absl::StrContains(r.outcome->error(), "1.1.0 is unhealthy")) << r.outcome->error();
  EXPECT_TRUE(absl::StrContains(r.outcome->error(), "rolled back to 1.0.0, healthy again")) << r.outcome->error();
  EXPECT_EQ(installer_.installed, "1.0.0");
  EXPECT_EQ(installer_.rollbacks, std::vector<std::string>{"1.0.0"});
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_EQ(coordinator_.outcomes[0].result(), v1::UPDATE_RESULT_ROLLED_BACK);

  // Not retried while 1.1.0 is the target...
  r = Pass();
  EXPECT_EQ(r.decision.action, Action::kWait);
  EXPECT_EQ(installer_.installs.size(), 1u);
  // ...until it changes.
  coordinator_.target.set_target_version("1.1.1");
  r = Pass();
  EXPECT_EQ(r.decision.action, Action::kUpdate);
  EXPECT_EQ(installer_.installed, "1.1.1");
  // An operator can clear the mark too: covered by `clear` in main.
}

TEST_F(UpdaterTest, FailedInstallIsReportedAsFailed) {
  installer_.fail_install = true;
  PassResult r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_FAILED);
  EXPECT_TRUE(absl::StrContains(r.outcome->error(), "signature does not verify")) << r.outcome->error();
  EXPECT_EQ(installer_.installed, "1.0.0");
  EXPECT_EQ(restarts_, 0);
}

TEST_F(UpdaterTest, CoordinatorDownKeepsOutcomesUntilItReturns) {
  // First pass caches the target (outside the window).
  SetWindow(22, 1);
  Pass();
  coordinator_.reachable = false;
  // Unreachable and healthy: leave the agent alone.
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kWait);
  EXPECT_TRUE(installer_.installs.empty());
  // Unhealthy with a known target: update anyway, from the cache.
  health_.down = true;
  r = Pass();
  EXPECT_EQ(r.decision.action, Action::kUpdate);
  EXPECT_FALSE(r.delivered);
  health_.down = false;
  const size_t stored_before = coordinator_.outcomes.size();
  // Back: the outcome arrives exactly once.
  coordinator_.reachable = true;
  r = Pass();
  EXPECT_TRUE(r.delivered);
  EXPECT_EQ(coordinator_.outcomes.size(), stored_before + 1);
  Pass();
  EXPECT_EQ(coordinator_.outcomes.size(), stored_before + 1);
}

TEST_F(UpdaterTest, LostAckResendsSameSequenceSoOutcomeIsStoredOnce) {
  SetWindow(10, 1);
  coordinator_.lose_next_ack = true;
  PassResult r = Pass();
  EXPECT_FALSE(r.delivered);
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);  // stored, but we do not know it
  const int64_t seq = coordinator_.reports.back().sequence();
  Pass();
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_GT(coordinator_.reports.back().sequence(), seq);
}

TEST_F(UpdaterTest, SequenceContinuesAboveTheCoordinatorsAfterStateLoss) {
  coordinator_.stored_sequence = absl::ToUnixMicros(kMonday1030) + 5000000;  // ahead of our clock floor
  SetWindow(10, 1);
  PassResult r = Pass();
  EXPECT_TRUE(r.delivered);
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_GT(coordinator_.reports.back().sequence(), absl::ToUnixMicros(kMonday1030) + 5000000);
}

TEST_F(UpdaterTest, RecoversFromAPassKilledMidUpdate) {
  // Killed after installing 1.1.0 but before watching it.
  v1::UpdaterState state;
  state.mutable_in_progress()->set_from_version("1.0.0");
  state.mutable_in_progress()->set_to_version("1.1.0");
  state.mutable_in_progress()->mutable_start_time()->set_seconds(absl::ToUnixSeconds(kMonday1030) - 60);
  ASSERT_TRUE(store_->Save(state).ok());
  installer_.installed = "1.1.0";
  health_.bad = {"1.1.0"};
  SetWindow(22, 1);
  PassResult r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_ROLLED_BACK);
  EXPECT_EQ(installer_.installed, "1.0.0");

  // Killed before the new version was in place.
  state.mutable_in_progress()->set_to_version("1.1.5");
  ASSERT_TRUE(store_->Save(state).ok());
  r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_FAILED);
  EXPECT_TRUE(absl::StrContains(r.outcome->error(), "interrupted before 1.1.5")) << r.outcome->error();
}

TEST_F(UpdaterTest, OutcomeRecordedButNotQueuedIsQueuedOnceOnNextPass) {
  v1::UpdaterState state;
  v1::UpdateOutcome* o = state.mutable_last_outcome();
  o->set_from_version("0.9.0");
  o->set_to_version("1.0.0");
  o->set_result(v1::UPDATE_RESULT_SUCCEEDED);
  o->mutable_start_time()->set_seconds(absl::ToUnixSeconds(kMonday1030) - 100);
  o->mutable_finish_time()->set_seconds(absl::ToUnixSeconds(kMonday1030) - 90);
  state.set_last_outcome_queued(false);
  ASSERT_TRUE(store_->Save(state).ok());
  ASSERT_TRUE(store_->AddOutcome(*o).ok());  // killed after queuing, before marking it queued
  coordinator_.target.set_target_version("1.0.0");
  Pass();
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_EQ(coordinator_.outcomes[0].to_version(), "1.0.0");
}

TEST_F(UpdaterTest, StatusTextSaysWhatItKnows) {
  SetWindow(22, 1);
  Pass();
  std::string text = MakeUpdater().StatusText();
  EXPECT_TRUE(absl::StrContains(text, "installed:        1.0.0")) << text;
  EXPECT_TRUE(absl::StrContains(text, "target:           1.1.0")) << text;
  EXPECT_TRUE(absl::StrContains(text, "next 2026-11-23T22:00:00Z")) << text;
  EXPECT_TRUE(absl::StrContains(text, "pending outbox:   0 outcomes")) << text;
}

}  // namespace
}  // namespace drover::updater
