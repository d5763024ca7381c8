// The updater's pass logic with fakes for the coordinator, installer and
// health check, a fake clock, and a real state directory.
#include "agent-updater/updater.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <functional>
#include <limits>
#include <map>

#include <dirent.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/api_limits.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/rollout/report_apply.h"
#include "common/clock.h"
#include "common/rpc_reason.h"
#include "common/subprocess.h"
#include "common/trust/metadata.h"

namespace drover::updater {
namespace {

class FakeCoordinator final : public CoordinatorClient {
 public:
  // As the coordinator's Sync: the target half and the report half each
  // answered as GetTarget and ReportStatus would; what no coordinator
  // answers (a dropped connection, a lost answer, a message over the size
  // limit) fails the call as a whole.
  absl::StatusOr<SyncAnswer> Sync(const v1::ReportStatusRequest& report) override {
    ++sync_calls;
    if (sync_unimplemented) return absl::UnimplementedError("unknown method Sync");
    if (!reachable) {
      if (on_report) on_report(report);
      return absl::UnavailableError("connection refused");
    }
    v1::GetTargetRequest get;
    get.set_channel(report.channel());
    get.set_host_id(report.host_id());
    get.set_group(report.group());
    SyncAnswer answer;
    answer.target = GetTarget(get);
    --get_calls;
    in_sync_ = !knobs_on_sync;
    answer.report = ReportStatus(report);
    in_sync_ = false;
    --report_calls;
    const absl::Status& r = answer.report.status();
    if (absl::IsUnavailable(r) || absl::IsDeadlineExceeded(r) ||
        (absl::IsResourceExhausted(r) && ReasonOf(r) != kReasonRateLimited)) {
      return r;
    }
    answer.next_sync = next_sync;
    return answer;
  }
  absl::StatusOr<v1::GetTargetResponse> GetTarget(const v1::GetTargetRequest& request) override {
    ++get_calls;
    last_get = request;
    if (!reachable) return absl::UnavailableError("connection refused");
    if (!get_target_error.ok()) return get_target_error;
    v1::GetTargetResponse t = target;
    t.mutable_server_time()->set_seconds(absl::ToUnixSeconds(Now()));
    return t;
  }
  absl::StatusOr<v1::ReportStatusResponse> ReportStatus(const v1::ReportStatusRequest& request) override {
    ++report_calls;
    sent.push_back(request);
    if (on_report) on_report(request);
    if (!reachable) return absl::UnavailableError("connection refused");
    if (unavailable_next > 0 && !in_sync_) {
      --unavailable_next;
      return absl::UnavailableError("connection reset");
    }
    if (request.ByteSizeLong() > max_message_bytes) {
      ++refused;
      return absl::ResourceExhaustedError("message larger than max");
    }
    if (refuse_next > 0 && request.updating_to().empty() && !in_sync_) {
      --refuse_next;
      ++refused;
      return absl::InvalidArgumentError("outcomes[0].error \"x\": refused by the test");
    }
    for (int i = 0; i < request.outcomes_size(); ++i) {
      if (request.outcomes(i).to_version() == refuse_to_version) {
        ++refused;
        return absl::InvalidArgumentError(absl::StrCat("outcomes[", i, "].to_version: refused by the test"));
      }
    }
    // The coordinator's own validation: a fake's copy would drift from it.
    if (absl::StatusOr<rollout::AgentReport> r = api::ReportFromProto(request, Now()); !r.ok()) {
      ++refused;
      return r.status();
    }
    v1::ReportStatusResponse resp;
    // The knobs below act on the reports that follow an install, not on the
    // one announcing it.
    const bool announcement = !request.updating_to().empty() || in_sync_;
    if (rate_limit_next > 0 && !announcement) {
      --rate_limit_next;
      return WithReason(absl::ResourceExhaustedError("ReportStatus refused: retry later"), kReasonRateLimited);
    }
    if (bound_sequences &&
        request.sequence() > rollout::MaxAcceptedSequence(
                                 stored_sequence == 0 ? std::nullopt : std::optional<int64_t>(stored_sequence), Now())) {
      resp.set_disposition(v1::ReportStatusResponse::DISPOSITION_SEQUENCE_TOO_FAR_AHEAD);
      resp.set_stored_sequence(stored_sequence);
      return resp;
    }
    if (always_out_of_order && !in_sync_) {
      resp.set_disposition(v1::ReportStatusResponse::DISPOSITION_OUT_OF_ORDER);
      resp.set_stored_sequence(request.sequence() + 1000);
      return resp;
    }
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
    if (lose_next_ack && !announcement) {
      lose_next_ack = false;
      return absl::DeadlineExceededError("ack lost");
    }
    return resp;
  }

  bool reachable = true;
  // An older coordinator: Sync is UNIMPLEMENTED.
  bool sync_unimplemented = false;
  // The knobs above (refuse_next, unavailable_next, always_out_of_order,
  // rate_limit_next, lose_next_ack) act on ReportStatus calls, the reports
  // around an install; with this, on the report half of Sync too.
  bool knobs_on_sync = false;
  bool in_sync_ = false;
  // What Sync answers carry.
  absl::Duration next_sync = absl::ZeroDuration();
  int sync_calls = 0, get_calls = 0, report_calls = 0;
  // Every report that reached the coordinator, by any method, answered or not.
  std::vector<v1::ReportStatusRequest> sent;
  absl::Status get_target_error;
  // Refuses the next reports (not the ones announcing an install).
  int refuse_next = 0;
  // The next reports fail as if the connection dropped.
  int unavailable_next = 0;
  // Sees every report sent, delivered or not.
  std::function<void(const v1::ReportStatusRequest&)> on_report;
  // Refuses reports with an outcome towards this version, naming its index.
  std::string refuse_to_version = "-";
  // The coordinator's default --max_message_bytes.
  size_t max_message_bytes = 64 * 1024;
  int refused = 0;
  bool always_out_of_order = false;
  // The coordinator's bound on sequences (rollout::MaxAcceptedSequence).
  bool bound_sequences = false;
  int rate_limit_next = 0;
  // The coordinator's clock: the updater's, off by `skew`.
  absl::Time Now() const { return clock->Now() - skew; }
  const Clock* clock = nullptr;
  absl::Duration skew;
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
  absl::Status MarkGood(const std::string& version) override {
    good.push_back(version);
    return absl::OkStatus();
  }
  std::optional<std::string> installed = "1.0.0";
  bool fail_install = false;
  std::vector<std::string> installs, rollbacks, good;
};

// Healthy unless the installed version is in `bad`.
class FakeHealth final : public HealthCheck {
 public:
  explicit FakeHealth(FakeInstaller* installer) : installer_(installer) {}
  std::string Name() const override { return "fake"; }
  absl::Status Check() override {
    if (down || (installer_->installed && bad.contains(*installer_->installed))) {
      return absl::UnavailableError(why);
    }
    return absl::OkStatus();
  }
  bool down = false;
  std::string why = "GET /readyz: 503";
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
    coordinator_.clock = &clock_;
  }
  void TearDown() override { RunCommand({"rm", "-rf", dir_}).IgnoreError(); }

  // The fakes, the state store and the fake clock; pauses advance it.
  UpdaterDeps Deps() {
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
    return deps;
  }

  Updater MakeUpdater() { return Updater(config_, Deps()); }
  UpdaterState Saved() {
    absl::StatusOr<UpdaterState> s = store_->Load();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : UpdaterState();
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
  // The installer keeps it as the last good version.
  EXPECT_EQ(installer_.good, std::vector<std::string>{"1.1.0"});
  EXPECT_EQ(r.summary_level, "INFO");
  EXPECT_TRUE(absl::StrContains(r.summary, "update: inside maintenance window; UPDATE_RESULT_SUCCEEDED 1.0.0 -> "
                                           "1.1.0; report delivered"))
      << r.summary;
}

TEST_F(UpdaterTest, OutsideWindowWaits) {
  SetWindow(22, 1);
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kWait);
  EXPECT_TRUE(absl::StrContains(r.decision.reason, "next opens 2026-11-23T22:00:00Z")) << r.decision.reason;
  EXPECT_TRUE(installer_.installs.empty());
  // Still reports its state: with the target fetch, and again once the
  // windows that came with it changed its schedule state.
  ASSERT_EQ(coordinator_.reports.size(), 2u);
  EXPECT_EQ(coordinator_.reports[0].current_version(), "1.0.0");
  EXPECT_EQ(coordinator_.reports[1].current_version(), "1.0.0");
  EXPECT_NE(coordinator_.reports[0].schedule_state(), coordinator_.reports[1].schedule_state());
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
  store_->Save(UpdaterState()).IgnoreError();
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
  EXPECT_TRUE(installer_.good.empty());

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
  ::testing::internal::CaptureStderr();
  PassResult r = Pass();
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_FAILED);
  EXPECT_TRUE(absl::StrContains(r.outcome->error(), "signature does not verify")) << r.outcome->error();
  EXPECT_EQ(installer_.installed, "1.0.0");
  EXPECT_EQ(restarts_, 0);
  // The log says so, with the reason (it used to leave no trace).
  EXPECT_TRUE(absl::StrContains(log, "ERROR update of demo from 1.0.0 to 1.1.0 failed: install of 1.1.0 failed: "
                                     "signature does not verify"))
      << log;
  EXPECT_EQ(r.summary_level, "ERROR");
}

// Issue 12 item 2: a failed install was retried every pass, each attempt a
// new failure at the coordinator ("18 failed" from 3 agents in seconds).
TEST_F(UpdaterTest, FailedInstallIsParkedWithGrowingBackoffAndReportedOnce) {
  installer_.fail_install = true;
  coordinator_.target.set_critical(true);  // not even critical bypasses it
  Pass();
  ASSERT_EQ(installer_.installs.size(), 1u);
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);

  // Parked: the next passes do not try.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Minutes(1));
    PassResult r = Pass();
    EXPECT_EQ(r.decision.action, Action::kWait);
    EXPECT_TRUE(absl::StrContains(r.decision.reason, "1.1.0 failed to install (1 attempt)")) << r.decision.reason;
  }
  EXPECT_EQ(installer_.installs.size(), 1u);
  std::string status = MakeUpdater().StatusText();
  EXPECT_TRUE(absl::StrContains(status, "failed install:   1.1.0 (1 attempt; next try after 2026-11-23T10:35:00Z"))
      << status;
  EXPECT_TRUE(absl::StrContains(status, "signature does not verify")) << status;

  // After 5 minutes: tried again, failed again, not reported again; the
  // next wait is twice as long.
  clock_.Advance(absl::Minutes(2));
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kUpdate);
  EXPECT_EQ(installer_.installs.size(), 2u);
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);
  clock_.Advance(absl::Minutes(9));
  EXPECT_EQ(Pass().decision.action, Action::kWait);
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(Pass().decision.action, Action::kUpdate);
  EXPECT_EQ(installer_.installs.size(), 3u);
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);
  status = MakeUpdater().StatusText();
  EXPECT_TRUE(absl::StrContains(status, "(3 attempts; next try after")) << status;

  // A new target is tried at once (and its failure reported once more).
  coordinator_.target.set_target_version("1.1.1");
  Pass();
  EXPECT_EQ(installer_.installs.back(), "1.1.1");
  EXPECT_EQ(coordinator_.outcomes.size(), 2u);

  // Once it works, the mark is gone.
  installer_.fail_install = false;
  store_->Save([&] {
    UpdaterState s = *store_->Load();
    s.mutable_failed_retry_time()->set_seconds(0);
    return s;
  }()).IgnoreError();
  PassResult ok = Pass();
  ASSERT_TRUE(ok.outcome.has_value());
  EXPECT_EQ(ok.outcome->result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_EQ(store_->Load()->failed_version(), "");
  EXPECT_FALSE(absl::StrContains(MakeUpdater().StatusText(), "failed install")) << MakeUpdater().StatusText();
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

// A coordinator that once stored a forged INT64_MAX makes the updater take it
// as its last sequence: the next one saturates instead of overflowing into a
// negative sequence the coordinator would refuse.
TEST_F(UpdaterTest, TheSequenceSaturatesAtInt64Max) {
  coordinator_.stored_sequence = std::numeric_limits<int64_t>::max();
  ::testing::internal::CaptureStderr();
  PassResult r = Pass();
  const std::string log = ::testing::internal::GetCapturedStderr();
  // Wrapped around, the next sequence would fall back to the clock and be
  // OUT_OF_ORDER round after round.
  EXPECT_FALSE(absl::StrContains(log, "gave up delivering")) << log;
  EXPECT_EQ(coordinator_.refused, 0) << r.summary;
  EXPECT_TRUE(r.delivered) << r.summary;
}

// A state holding a sequence the coordinator finds too far ahead (a host it
// was told to forget): the updater continues above what the coordinator
// holds, from its clock, and the report goes through.
TEST_F(UpdaterTest, ASequenceTooFarAheadStartsAgainFromTheClock) {
  const int64_t far = absl::ToUnixMicros(kMonday1030 + absl::Hours(24 * 30));
  coordinator_.stored_sequence = far;  // adopted from an OUT_OF_ORDER answer
  SetWindow(10, 1);
  ASSERT_TRUE(Pass().delivered);
  ASSERT_GT(coordinator_.reports.back().sequence(), far);
  coordinator_.stored_sequence = 0;  // forgotten
  coordinator_.bound_sequences = true;
  coordinator_.target.set_target_version("1.1.1");
  ::testing::internal::CaptureStderr();
  PassResult r = Pass();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(r.delivered) << r.summary;
  EXPECT_TRUE(absl::StrContains(log, "as too far ahead (it holds 0)")) << log;
  EXPECT_LT(coordinator_.reports.back().sequence(), far);
  EXPECT_GE(coordinator_.reports.back().sequence(), absl::ToUnixMicros(kMonday1030));
  EXPECT_EQ(coordinator_.outcomes.back().to_version(), "1.1.1") << "the outcome was delivered, not set aside";
}

// Rate limited: the report is kept and sent on the next pass, not set aside
// as a report refused for its size would be.
TEST_F(UpdaterTest, ARateLimitedReportIsKeptForTheNextPass) {
  SetWindow(10, 1);
  coordinator_.rate_limit_next = 1;
  PassResult r = Pass();
  EXPECT_FALSE(r.delivered);
  EXPECT_TRUE(coordinator_.outcomes.empty());
  r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_EQ(MakeUpdater().StatusText().find("rejected reports: 1"), std::string::npos);
}

TEST_F(UpdaterTest, RecoversFromAPassKilledMidUpdate) {
  // Killed after installing 1.1.0 but before watching it.
  UpdaterState state;
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
  UpdaterState state;
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

// Issue 12 item 1: a health command printing colour codes made a report the
// coordinator refused, and `Deliver` sent it again before anything newer,
// for good.
TEST_F(UpdaterTest, WhatHealthCommandsPrintNeverPoisonsAReport) {
  health_.bad = {"1.1.0"};
  health_.why = "\033[31mnot ready\033[0m \xe2\x80\x98x\xe2\x80\x99\r\n\xff" + std::string(3000, 'z');
  PassResult r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  EXPECT_EQ(coordinator_.refused, 0);
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  const std::string& error = coordinator_.outcomes[0].error();
  EXPECT_TRUE(absl::StrContains(error, "not ready \xe2\x80\x98x\xe2\x80\x99\n\xEF\xBF\xBDzzz")) << error;
  EXPECT_LE(error.size(), kMaxErrorLength);
}

// Upgraded from an updater that saved one such report: it is not lost.
TEST_F(UpdaterTest, APendingReportSavedByAnOlderUpdaterIsMadeAcceptable) {
  PendingReport old;
  v1::ReportStatusRequest& req = *old.mutable_request();
  req.set_host_id("host-1");
  req.set_channel("channels/stable");
  req.set_current_version("1.0.0");
  req.set_health(v1::HEALTH_HEALTHY);
  req.set_sequence(7);
  v1::UpdateOutcome* o = req.add_outcomes();
  o->set_from_version("1.0.0");
  o->set_to_version("1.1.0");
  o->set_result(v1::UPDATE_RESULT_ROLLED_BACK);
  o->set_error("\033[31mnot ready\033[0m");
  o->mutable_start_time()->set_seconds(10);  // clock at the epoch
  o->mutable_finish_time()->set_seconds(20);
  ASSERT_TRUE(store_->SavePendingReport(old).ok());
  SetWindow(22, 1);
  PassResult r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  EXPECT_EQ(coordinator_.refused, 0);
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_EQ(coordinator_.outcomes[0].error(), "not ready");
  EXPECT_EQ(coordinator_.reports[0].sequence(), 7);
}

TEST_F(UpdaterTest, OutcomeTimesFromAWrongClockAreClamped) {
  // Booted with the clock at the epoch: times before 2000 are refused.
  clock_.Set(absl::FromUnixSeconds(1000));
  coordinator_.skew = clock_.Now() - kMonday1030;
  SetWindow(0, 24);
  PassResult r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_TRUE(r.delivered) << r.summary;
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  // Moved by the offset seen on GetTarget, not clamped to 2000-01-01: the
  // coordinator counts an outcome for a target by when it finished.
  EXPECT_EQ(coordinator_.outcomes[0].start_time().seconds(), absl::ToUnixSeconds(kMonday1030));
  EXPECT_GE(coordinator_.outcomes[0].finish_time().seconds(), absl::ToUnixSeconds(kMonday1030 + absl::Seconds(10)));
  // An hour ahead of the coordinator: times past its clock are refused.
  clock_.Set(kMonday1030 + absl::Hours(1));
  coordinator_.skew = absl::Hours(1);
  coordinator_.target.set_target_version("1.1.1");
  r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  ASSERT_EQ(coordinator_.outcomes.size(), 2u);
  EXPECT_LE(coordinator_.outcomes[1].finish_time().seconds(), absl::ToUnixSeconds(coordinator_.Now()));
  EXPECT_EQ(coordinator_.outcomes[1].start_time().seconds(), absl::ToUnixSeconds(coordinator_.Now() - absl::Seconds(10)));
  EXPECT_EQ(coordinator_.refused, 0);
}

TEST_F(UpdaterTest, ARefusedReportIsMovedAsideAndLaterOnesGoThrough) {
  SetWindow(10, 1);
  coordinator_.refuse_next = 1;
  ::testing::internal::CaptureStderr();
  PassResult r = Pass();  // the report with the outcome is refused
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(absl::StrContains(log, "ERROR the coordinator refused report")) << log;
  EXPECT_TRUE(absl::StrContains(log, "refused by the test")) << log;
  EXPECT_TRUE(absl::StrContains(log, "outbox/rejected/")) << log;
  EXPECT_TRUE(absl::StrContains(r.summary, "report refused")) << r.summary;
  // The fresh status that followed it went through (after the status sent
  // with the target fetch and the install's announcement).
  ASSERT_EQ(coordinator_.reports.size(), 3u);
  EXPECT_EQ(coordinator_.reports[0].current_version(), "1.0.0");
  EXPECT_EQ(coordinator_.reports[1].updating_to(), "1.1.0");
  EXPECT_EQ(coordinator_.reports[2].current_version(), "1.1.0");
  // Kept for a person, out of the way.
  int kept = 0;
  if (DIR* d = opendir((dir_ + "/state/outbox/rejected").c_str()); d != nullptr) {
    while (dirent* e = readdir(d)) kept += absl::EndsWith(e->d_name, ".pb") ? 1 : 0;
    closedir(d);
  }
  EXPECT_EQ(kept, 1);
  std::string status = MakeUpdater().StatusText();
  EXPECT_TRUE(absl::StrContains(status, "rejected reports: 1 refused by the coordinator")) << status;
  EXPECT_TRUE(absl::StrContains(status, "pending outbox:   0 outcomes\n")) << status;

  // Later reports, outcomes included, are delivered.
  coordinator_.target.set_target_version("1.1.1");
  r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_EQ(coordinator_.outcomes[0].to_version(), "1.1.1");
}

TEST_F(UpdaterTest, EndlessOutOfOrderIsLoggedWithWhatToDo) {
  coordinator_.always_out_of_order = true;
  ::testing::internal::CaptureStderr();
  PassResult r = Pass();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(r.delivered);
  EXPECT_TRUE(absl::StrContains(log, "ERROR gave up delivering after 8 rounds")) << log;
  EXPECT_TRUE(absl::StrContains(log, "host_id")) << log;
  EXPECT_TRUE(absl::StrContains(r.summary, "OUT_OF_ORDER")) << r.summary;
  EXPECT_EQ(r.summary_level, "WARN");
}

TEST_F(UpdaterTest, PollIntervalFromTheCoordinatorIsClamped) {
  coordinator_.target.mutable_poll_interval()->set_seconds(0);
  coordinator_.target.mutable_poll_interval()->set_nanos(1000);
  EXPECT_EQ(Pass().poll_interval, kMinPollInterval);
  coordinator_.target.mutable_poll_interval()->set_seconds(-5);
  coordinator_.target.mutable_poll_interval()->set_nanos(0);
  EXPECT_EQ(Pass().poll_interval, kMinPollInterval);
  coordinator_.target.mutable_poll_interval()->set_seconds(30 * 24 * 3600);
  EXPECT_EQ(Pass().poll_interval, kMaxPollInterval);
  coordinator_.target.mutable_poll_interval()->set_seconds(5);
  EXPECT_EQ(Pass().poll_interval, absl::Seconds(5));
  coordinator_.target.clear_poll_interval();
  EXPECT_EQ(Pass().poll_interval, kDefaultPollInterval);
}

// Issue 12 item 5: all of these were "coordinator unreachable".
TEST_F(UpdaterTest, CoordinatorErrorsSayWhatTheyAre) {
  SetWindow(22, 1);
  coordinator_.get_target_error = absl::NotFoundError("fetching the target at c:1: channel \"stable\" not found");
  PassResult r = Pass();
  EXPECT_TRUE(r.coordinator_reachable);  // polls on: the channel may come back
  EXPECT_TRUE(absl::StrContains(r.summary, "channel \"stable\" does not exist on the coordinator (deleted, or "
                                           "mistyped in the config)"))
      << r.summary;
  EXPECT_TRUE(absl::StrContains(r.summary, "droverctl channels list")) << r.summary;

  // The coordinator marks a database outage with drover-reason metadata.
  coordinator_.get_target_error = WithReason(
      absl::UnavailableError("fetching the target at c:1: read channels: database unavailable: connection refused"),
      kReasonDatabaseUnavailable);
  r = Pass();
  EXPECT_FALSE(r.coordinator_reachable);  // backs off
  EXPECT_TRUE(absl::StrContains(r.summary, "the coordinator answers but its database is unavailable")) << r.summary;

  coordinator_.get_target_error = absl::OkStatus();
  coordinator_.reachable = false;
  r = Pass();
  EXPECT_FALSE(r.coordinator_reachable);
  EXPECT_TRUE(absl::StrContains(r.summary, "coordinator unreachable: connection refused")) << r.summary;
  EXPECT_TRUE(absl::StrContains(r.summary, "report kept in the outbox")) << r.summary;
  EXPECT_EQ(r.summary_level, "WARN");
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

// (The outbox names outcomes by start time: one a second.)
v1::UpdateOutcome QueuedFailure(const std::string& to, const std::string& error) {
  static int n = 0;
  ++n;
  v1::UpdateOutcome o;
  o.set_from_version("1.0.0");
  o.set_to_version(to);
  o.set_result(v1::UPDATE_RESULT_FAILED);
  o.set_error(error);
  o.mutable_start_time()->set_seconds(absl::ToUnixSeconds(kMonday1030) - 1000 + n);
  o.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(kMonday1030) - 900);
  return o;
}

int RejectedReports(const std::string& dir) {
  int kept = 0;
  if (DIR* d = opendir((dir + "/state/outbox/rejected").c_str()); d != nullptr) {
    while (dirent* e = readdir(d)) kept += absl::EndsWith(e->d_name, ".pb") ? 1 : 0;
    closedir(d);
  }
  return kept;
}

// Review of issue 12 item 5: with a cached target, a deleted channel still
// read "coordinator unreachable" in the pass line.
TEST_F(UpdaterTest, WithACachedTargetTheDecisionSaysWhyThereIsNoFreshOne) {
  SetWindow(22, 1);
  Pass();  // caches the target
  coordinator_.get_target_error = absl::NotFoundError("fetching the target at c:1: channel \"stable\" not found");
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kWait);
  EXPECT_EQ(r.decision.reason,
            "no fresh target: channel \"stable\" does not exist on the coordinator; agent healthy: leaving it as it is");
  EXPECT_FALSE(absl::StrContains(r.summary, "unreachable")) << r.summary;
  coordinator_.get_target_error = WithReason(
      absl::UnavailableError("fetching the target at c:1: read channels: database unavailable: connection refused"),
      kReasonDatabaseUnavailable);
  r = Pass();
  EXPECT_TRUE(absl::StrContains(r.decision.reason, "no fresh target: the coordinator's database is unavailable"))
      << r.decision.reason;
}

// A retry time set before the clock was stepped back a day would park the
// version for that day.
TEST_F(UpdaterTest, AClockSteppedBackDoesNotParkAFailedVersionForTheStep) {
  installer_.fail_install = true;
  Pass();  // parked until 10:35
  ASSERT_EQ(installer_.installs.size(), 1u);
  clock_.Set(kMonday1030 - absl::Hours(24));
  coordinator_.skew = clock_.Now() - kMonday1030;
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kUpdate) << r.decision.reason;
  EXPECT_EQ(installer_.installs.size(), 2u);
  // Parked again by the clock as it is now.
  EXPECT_EQ(store_->Load()->failed_retry_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() + FailedInstallRetryDelay(2)));
}

// 32 outcomes with 2048-byte errors came to ~67 KB, over the coordinator's
// 64 KiB message limit: refused as RESOURCE_EXHAUSTED and resent forever.
TEST_F(UpdaterTest, ReportsStayUnderTheCoordinatorsMessageLimit) {
  SetWindow(22, 1);
  for (int i = 0; i < kMaxOutcomesPerReport; ++i) {
    ASSERT_TRUE(store_->AddOutcome(QueuedFailure(absl::StrCat("1.0.", i + 1), std::string(kMaxErrorLength, 'e'))).ok());
  }
  PassResult r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  EXPECT_EQ(coordinator_.refused, 0);
  EXPECT_EQ(coordinator_.outcomes.size(), static_cast<size_t>(kMaxOutcomesPerReport));
  for (const v1::ReportStatusRequest& report : coordinator_.reports) EXPECT_LE(report.ByteSizeLong(), kMaxReportBytes);
}

// One saved before the budget (or refused as too large anyway) is split, not
// resent forever.
TEST_F(UpdaterTest, APendingReportRefusedAsTooLargeIsSplit) {
  SetWindow(22, 1);
  PendingReport big;
  v1::ReportStatusRequest& req = *big.mutable_request();
  req.set_host_id("host-1");
  req.set_channel("channels/stable");
  req.set_current_version("1.0.0");
  req.set_health(v1::HEALTH_HEALTHY);
  req.set_updater_version(kUpdaterVersion);
  req.set_sequence(7);
  for (int i = 0; i < kMaxOutcomesPerReport; ++i) {
    *req.add_outcomes() = QueuedFailure(absl::StrCat("1.0.", i + 1), std::string(kMaxErrorLength, 'e'));
  }
  ASSERT_GT(req.ByteSizeLong(), coordinator_.max_message_bytes);
  ASSERT_TRUE(store_->SavePendingReport(big).ok());
  for (int pass = 0; pass < 3; ++pass) Pass();
  EXPECT_EQ(coordinator_.refused, 1);
  EXPECT_EQ(coordinator_.outcomes.size(), static_cast<size_t>(kMaxOutcomesPerReport));
  EXPECT_EQ(RejectedReports(dir_), 0);
}

// One refused outcome took up to 31 good ones with it.
TEST_F(UpdaterTest, OnlyTheRefusedOutcomeIsSetAside) {
  SetWindow(22, 1);
  for (const char* to : {"1.0.1", "1.0.2", "1.0.3"}) ASSERT_TRUE(store_->AddOutcome(QueuedFailure(to, "x")).ok());
  coordinator_.refuse_to_version = "1.0.2";
  PassResult r = Pass();
  EXPECT_TRUE(absl::StrContains(r.summary, "report refused")) << r.summary;
  ASSERT_EQ(coordinator_.outcomes.size(), 2u);
  EXPECT_EQ(coordinator_.outcomes[0].to_version(), "1.0.1");
  EXPECT_EQ(coordinator_.outcomes[1].to_version(), "1.0.3");
  EXPECT_EQ(RejectedReports(dir_), 1);
  EXPECT_TRUE(absl::StrContains(MakeUpdater().StatusText(), "pending outbox:   0 outcomes\n"));
}

// An install killed before the new version was in place is a failed
// attempt: parked, reported once; a recovered success ends the parking.
TEST_F(UpdaterTest, InterruptedInstallsAreParkedLikeFailedOnes) {
  auto killed_while_updating = [&] {
    UpdaterState state = *store_->Load();
    state.mutable_in_progress()->set_from_version("1.0.0");
    state.mutable_in_progress()->set_to_version("1.1.0");
    state.mutable_in_progress()->mutable_start_time()->set_seconds(absl::ToUnixSeconds(clock_.Now()) - 60);
    ASSERT_TRUE(store_->Save(state).ok());
  };
  killed_while_updating();
  PassResult r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_FAILED);
  EXPECT_EQ(r.decision.action, Action::kWait) << r.decision.reason;
  EXPECT_TRUE(installer_.installs.empty());
  EXPECT_EQ(store_->Load()->failed_version(), "1.1.0");
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);

  clock_.Advance(absl::Minutes(6));
  killed_while_updating();
  r = Pass();
  EXPECT_EQ(r.decision.action, Action::kWait) << r.decision.reason;
  EXPECT_EQ(store_->Load()->failed_attempts(), 2);
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);  // one failure per host and version

  killed_while_updating();
  installer_.installed = "1.1.0";  // this time it was in place, and runs healthy
  r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_EQ(store_->Load()->failed_version(), "");
}

TEST_F(UpdaterTest, GivingUpOnOutOfOrderSaysHowManyRoundsWere) {
  SetWindow(10, 1);
  coordinator_.refuse_next = 1;  // the first round is refused, the others OUT_OF_ORDER
  coordinator_.always_out_of_order = true;
  ::testing::internal::CaptureStderr();
  Pass();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(absl::StrContains(log, "gave up delivering after 8 rounds: the coordinator answered OUT_OF_ORDER to 7 of "
                                     "them"))
      << log;
}

// --- Signed target metadata: the updater acts only on verified payloads. ---

class SignedUpdaterTest : public UpdaterTest {
 protected:
  void SetUp() override {
    UpdaterTest::SetUp();
    // The unsigned fields say one thing; only the signed payload counts.
    coordinator_.target.set_target_version("1.2.0");
    coordinator_.target.set_critical(true);
  }

  PassResult SignedPass() {
    UpdaterDeps deps = Deps();
    deps.pinned_root = trust::TrustedRootFromRaw(root_.public_key());
    Updater u(config_, deps);
    absl::StatusOr<PassResult> r = u.RunPass();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : PassResult{};
  }

  // Serves a signed answer for `channel`, version `version`, signed at the
  // clock's time and valid for `lifetime`.
  void Serve(int64_t version, const std::string& target, bool critical = true, const std::string& channel = "stable",
             absl::Duration lifetime = trust::kTargetMetadataLifetime, const trust::SigningKey* key = nullptr) {
    v1::TargetMetadata t;
    t.set_channel(channel);
    t.set_version(version);
    t.set_target_version(target);
    t.set_critical(critical);
    t.set_control_plane_version("1.2.0");
    t.mutable_signed_time()->set_seconds(absl::ToUnixSeconds(clock_.Now()));
    t.mutable_expires()->set_seconds(absl::ToUnixSeconds(clock_.Now() + lifetime));
    t.mutable_poll_interval()->set_seconds(60);
    *t.mutable_maintenance_windows() = coordinator_.target.maintenance_windows();
    t.set_rollout_mode(rollout_mode_);
    t.set_rollout_start_version(rollout_start_);
    t.set_catch_all_off(catch_all_off_);
    for (const std::string& g : listed_groups_) t.add_listed_groups(g);
    // What the coordinator tells this host: the target, unless a test says
    // otherwise afterwards.
    coordinator_.target.set_target_version(target);
    v1::TargetsDelegation d;
    d.set_root_key_id(root_.key_id());
    *d.mutable_targets_key() = trust::PublicKeyProto(delegated_->public_key());
    d.set_version(delegation_version_);
    d.mutable_expires()->set_seconds(absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 365)));
    v1::SignedTargetMetadata* m = coordinator_.target.mutable_signed_metadata();
    *m->mutable_delegation() = *trust::Sign(trust::Role::kDelegation, d, {&root_});
    *m->mutable_target() = *trust::Sign(trust::Role::kTarget, t, {key != nullptr ? key : delegated_});
  }

  UpdaterState State() {
    std::string warning;
    return *store_->Load(&warning);
  }

  trust::SigningKey root_ = *trust::SigningKey::Generate();
  trust::SigningKey targets_ = *trust::SigningKey::Generate();
  // The key the delegation Serve sends certifies, and its version.
  const trust::SigningKey* delegated_ = &targets_;
  int64_t delegation_version_ = 1;
  // The staged rollout Serve signs.
  v1::TargetMetadata::RolloutMode rollout_mode_ = v1::TargetMetadata::ROLLOUT_MODE_UNSPECIFIED;
  std::string rollout_start_;
  bool catch_all_off_ = false;
  std::vector<std::string> listed_groups_;
};

TEST_F(SignedUpdaterTest, ActsOnTheSignedPayloadNotOnUnsignedFields) {
  // Signed: not critical, a window hours away. Unsigned: critical, no window.
  SetWindow(22, 1);
  Serve(3, "1.1.0", /*critical=*/false);
  coordinator_.target.set_critical(true);
  coordinator_.target.clear_maintenance_windows();
  PassResult r = SignedPass();
  EXPECT_FALSE(r.metadata_refused) << r.summary;
  EXPECT_EQ(r.decision.action, Action::kWait) << r.decision.reason;
  EXPECT_TRUE(installer_.installs.empty());
  Serve(3, "1.1.0");
  r = SignedPass();
  EXPECT_FALSE(r.metadata_refused);
  EXPECT_EQ(r.decision.action, Action::kUpdate);
  EXPECT_EQ(installer_.installs, std::vector<std::string>{"1.1.0"});
  EXPECT_EQ(State().metadata_versions().at("stable"), 3);
  EXPECT_TRUE(State().cached_target_verified());
  EXPECT_EQ(State().trusted_root_pinned_key_id(), root_.key_id());
}

TEST_F(SignedUpdaterTest, UnsignedAndTamperedAnswersAreRefusedAndNothingInstalls) {
  // Unsigned (a coordinator without a targets key, or a proxy stripping it).
  PassResult r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_NE(r.decision.action, Action::kUpdate);
  EXPECT_TRUE(absl::StrContains(r.summary, "refused the coordinator's answer: the answer is not signed")) << r.summary;
  // Signed by a key the root never delegated to (a coordinator started with
  // another key).
  trust::SigningKey other = *trust::SigningKey::Generate();
  Serve(3, "1.1.0", true, "stable", trust::kTargetMetadataLifetime, &other);
  r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_TRUE(absl::StrContains(r.summary, "not signed by key")) << r.summary;
  // A payload altered on the way.
  Serve(3, "1.1.0");
  v1::TargetMetadata t;
  ASSERT_TRUE(t.ParseFromString(coordinator_.target.signed_metadata().target().payload()));
  t.set_target_version("1.2.0");
  coordinator_.target.mutable_signed_metadata()->mutable_target()->set_payload(t.SerializeAsString());
  r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_TRUE(absl::StrContains(r.summary, "bad signature")) << r.summary;
  // Another channel's answer (mix-and-match).
  Serve(3, "1.1.0", true, "beta");
  r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_TRUE(absl::StrContains(r.summary, "for channel \"beta\"")) << r.summary;
  EXPECT_TRUE(installer_.installs.empty());
  EXPECT_EQ(installer_.installed, "1.0.0");
  EXPECT_FALSE(State().cached_target_verified());
}

TEST_F(SignedUpdaterTest, AnOlderSignedAnswerIsRefusedAsAReplay) {
  Serve(5, "1.1.0");
  SignedPass();
  ASSERT_EQ(installer_.installed, "1.1.0");
  // The attacker replays an older, validly signed answer (a roll-back to 1.0.0
  // it once carried).
  Serve(4, "1.0.0");
  PassResult r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_TRUE(absl::StrContains(r.summary, "metadata version 4 is below the highest seen")) << r.summary;
  EXPECT_EQ(installer_.installed, "1.1.0");
  EXPECT_EQ(installer_.installs.size(), 1u);
  EXPECT_EQ(State().metadata_versions().at("stable"), 5);
  // A downgrade that is validly signed but not marked as one is refused too.
  Serve(6, "1.0.0");
  r = SignedPass();
  EXPECT_EQ(r.decision.action, Action::kRefuse);
  EXPECT_TRUE(absl::StrContains(r.decision.reason, "did not mark it as a roll-back")) << r.decision.reason;
  EXPECT_EQ(installer_.installed, "1.1.0");
}

TEST_F(SignedUpdaterTest, ExpiredMetadataFreezesButAnUnhealthyAgentIsStillRepaired) {
  // A valid answer with a target the window holds back.
  SetWindow(2, 1);
  Serve(1, "1.1.0", /*critical=*/false);
  PassResult r = SignedPass();
  EXPECT_EQ(r.decision.action, Action::kWait);
  // Eight days later the coordinator (or whoever answers for it) sends a
  // critical answer whose signature expired: frozen, nothing installs.
  clock_.Advance(absl::Hours(24 * 8));
  Serve(2, "1.2.0", /*critical=*/true, "stable", absl::Hours(1));
  clock_.Advance(absl::Hours(2));
  r = SignedPass();
  EXPECT_TRUE(r.metadata_expired);
  EXPECT_FALSE(r.metadata_refused);
  EXPECT_TRUE(absl::StrContains(r.summary, "metadata expired")) << r.summary;
  EXPECT_EQ(r.decision.action, Action::kWait);
  EXPECT_TRUE(absl::StrContains(r.decision.reason, "metadata expired")) << r.decision.reason;
  EXPECT_TRUE(installer_.installs.empty());
  EXPECT_TRUE(absl::StrContains(MakeUpdater().StatusText(), "metadata expired")) << MakeUpdater().StatusText();
  // The agent turns unhealthy: repaired with the last valid answer (1.1.0,
  // not the expired 1.2.0); 1.1.0 is unhealthy too, so it is rolled back.
  health_.bad = {"1.0.0", "1.1.0"};
  r = SignedPass();
  EXPECT_TRUE(r.metadata_expired);
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->to_version(), "1.1.0");
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_ROLLED_BACK);
  EXPECT_EQ(installer_.installs, std::vector<std::string>{"1.1.0"});
  EXPECT_EQ(installer_.installed, "1.0.0");
}

TEST_F(SignedUpdaterTest, AfterATargetsKeyRotationTheRetiredKeyIsRefused) {
  Serve(3, "1.1.0");
  SignedPass();
  ASSERT_EQ(installer_.installed, "1.1.0");
  EXPECT_EQ(State().delegation_version(), 1);
  // `droverctl keys create-targets` rotates the key: delegation 2.
  trust::SigningKey next = *trust::SigningKey::Generate();
  delegated_ = &next;
  delegation_version_ = 2;
  Serve(4, "1.1.0");
  PassResult r = SignedPass();
  EXPECT_FALSE(r.metadata_refused) << r.summary;
  EXPECT_EQ(State().delegation_version(), 2);
  // Whoever stole the retired key serves what it signs under its old, still
  // unexpired delegation, with a metadata version above everything seen.
  delegated_ = &targets_;
  delegation_version_ = 1;
  Serve(1000, "1.2.0");
  r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_FALSE(r.metadata_expired);
  EXPECT_TRUE(absl::StrContains(r.summary, "delegation version 1")) << r.summary;
  EXPECT_TRUE(absl::StrContains(r.summary, "below the highest accepted (2)")) << r.summary;
  EXPECT_EQ(installer_.installs, std::vector<std::string>{"1.1.0"});
  // Nothing of the refused answer is kept, and the mark survives the pass
  // (read back from the state file).
  EXPECT_EQ(State().delegation_version(), 2);
  EXPECT_EQ(State().metadata_versions().at("stable"), 4);
  EXPECT_TRUE(absl::StrContains(State().metadata_problem(), "retired targets key")) << State().metadata_problem();
  // ...and the coordinator is told why.
  ASSERT_FALSE(coordinator_.reports.empty());
  EXPECT_TRUE(absl::StrContains(coordinator_.reports.back().metadata_problem(), "below the highest accepted (2)"))
      << coordinator_.reports.back().metadata_problem();
  // The new key keeps working, and the problem is no longer reported.
  delegated_ = &next;
  delegation_version_ = 2;
  Serve(5, "1.1.0");
  EXPECT_FALSE(SignedPass().metadata_refused);
  EXPECT_EQ(coordinator_.reports.back().metadata_problem(), "");
}

TEST_F(SignedUpdaterTest, ATargetCachedBeforeSigningIsNotActedOn) {
  // An unsigned answer cached by a pass without a pinned root...
  coordinator_.target.set_critical(true);
  health_.bad = {"1.0.0"};
  coordinator_.reachable = false;
  {
    UpdaterState s;
    *s.mutable_cached_target()->mutable_target() = coordinator_.target;
    ASSERT_TRUE(store_->Save(s).ok());
  }
  // ...is not a target once the root is pinned, even for a repair.
  PassResult r = SignedPass();
  EXPECT_EQ(r.decision.action, Action::kNothing);
  EXPECT_TRUE(installer_.installs.empty());
}


// --- Staged rollouts: per-host answers under a per-channel signature. ---

TEST_F(SignedUpdaterTest, TheTargetIsAcceptedWhileARolloutHoldsOthers) {
  rollout_mode_ = v1::TargetMetadata::ROLLOUT_MODE_HOLDING;
  rollout_start_ = "1.0.0";
  SetWindow(22, 1);
  Serve(3, "1.1.0", /*critical=*/true);
  PassResult r = SignedPass();
  EXPECT_FALSE(r.metadata_refused) << r.summary;
  // Let in: the target, critical as signed (the window is skipped).
  EXPECT_EQ(r.decision.reason, "critical update");
  EXPECT_EQ(installer_.installs, std::vector<std::string>{"1.1.0"});
  EXPECT_FALSE(State().cached_target().target().held_back());
}

TEST_F(SignedUpdaterTest, AHostHeldBackIsToldTheStartVersionNeverCritical) {
  rollout_mode_ = v1::TargetMetadata::ROLLOUT_MODE_HOLDING;
  rollout_start_ = "1.1.0";
  SetWindow(22, 1);
  installer_.installed = "1.0.0";
  Serve(3, "1.2.0", /*critical=*/true);
  coordinator_.target.set_target_version("1.1.0");
  PassResult r = SignedPass();
  EXPECT_FALSE(r.metadata_refused) << r.summary;
  // The target's critical flag does not carry over to the start version:
  // the window holds it.
  EXPECT_EQ(r.decision.action, Action::kWait) << r.decision.reason;
  EXPECT_EQ(State().cached_target().target().target_version(), "1.1.0");
  EXPECT_FALSE(State().cached_target().target().critical());
  EXPECT_TRUE(State().cached_target().target().held_back());
  EXPECT_TRUE(absl::StrContains(MakeUpdater().StatusText(), "target:           1.1.0 (held on the rollout's start version)"))
      << MakeUpdater().StatusText();
  // Inside the window it updates to the start version.
  SetWindow(10, 1);
  Serve(4, "1.2.0", /*critical=*/true);
  coordinator_.target.set_target_version("1.1.0");
  r = SignedPass();
  EXPECT_EQ(installer_.installs, std::vector<std::string>{"1.1.0"});
  // A rollout from no target: held back is "nothing to install".
  rollout_start_ = "";
  Serve(5, "1.2.0", /*critical=*/true);
  coordinator_.target.set_target_version("");
  r = SignedPass();
  EXPECT_FALSE(r.metadata_refused) << r.summary;
  EXPECT_EQ(State().cached_target().target().target_version(), "");
  EXPECT_EQ(installer_.installs.size(), 1u);
}

TEST_F(SignedUpdaterTest, AVersionTheSignedAnswerDoesNotNameIsRefused) {
  rollout_mode_ = v1::TargetMetadata::ROLLOUT_MODE_HOLDING;
  rollout_start_ = "1.0.0";
  Serve(3, "1.1.0");
  coordinator_.target.set_target_version("1.2.0");
  PassResult r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_FALSE(r.metadata_expired);
  EXPECT_TRUE(absl::StrContains(r.summary,
                                "refused the coordinator's answer: coordinator told this host to run 1.2.0, which its "
                                "signed metadata for channel \"stable\" (version 3) does not name (target 1.1.0, "
                                "start 1.0.0; rollout holding hosts back)"))
      << r.summary;
  EXPECT_TRUE(installer_.installs.empty());
  // Nothing of the refused answer is kept; the coordinator hears why.
  EXPECT_EQ(State().metadata_versions().count("stable"), 0u);
  EXPECT_FALSE(State().cached_target_verified());
  ASSERT_FALSE(coordinator_.reports.empty());
  EXPECT_TRUE(absl::StrContains(coordinator_.reports.back().metadata_problem(), "told this host to run 1.2.0"));
}

// A host whose updates are off (the policy's catch-all turned off, the host
// in no listed group) is told nothing to install: accepted in every mode
// when the signed answer says the catch-all is off and does not list the
// host's group; it keeps what it runs.
TEST_F(SignedUpdaterTest, NothingToInstallIsAcceptedWhenSignedOffForThisGroup) {
  installer_.installed = "1.0.0";
  config_.set_group("qa");
  catch_all_off_ = true;
  listed_groups_ = {"dev", "prod"};
  int version = 3;
  for (auto mode : {v1::TargetMetadata::ROLLOUT_MODE_UNSPECIFIED, v1::TargetMetadata::ROLLOUT_MODE_HOLDING,
                    v1::TargetMetadata::ROLLOUT_MODE_ROLLED_BACK}) {
    rollout_mode_ = mode;
    rollout_start_ = mode == v1::TargetMetadata::ROLLOUT_MODE_UNSPECIFIED ? "" : "0.9.0";
    Serve(version++, "1.1.0", /*critical=*/true);
    coordinator_.target.set_target_version("");
    PassResult r = SignedPass();
    EXPECT_FALSE(r.metadata_refused) << mode << ": " << r.summary;
    EXPECT_EQ(State().cached_target().target().target_version(), "") << mode;
    EXPECT_FALSE(State().cached_target().target().critical()) << mode;
    EXPECT_TRUE(State().cached_target().target().held_back()) << mode;
  }
  EXPECT_TRUE(installer_.installs.empty());
}

// Nobody can switch a listed host's updates off, nor any host's where the
// catch-all is on: an empty answer is refused and the target the host
// verified before stands.
TEST_F(SignedUpdaterTest, NothingToInstallIsRefusedForAListedGroupOrWithTheCatchAllOn) {
  installer_.installed = "1.0.0";
  SetWindow(22, 1);  // outside the window: the update waits
  rollout_mode_ = v1::TargetMetadata::ROLLOUT_MODE_HOLDING;
  rollout_start_ = "1.0.0";
  config_.set_group("prod");
  catch_all_off_ = true;
  listed_groups_ = {"dev", "prod"};
  Serve(3, "1.1.0", /*critical=*/false);
  PassResult r = SignedPass();
  ASSERT_FALSE(r.metadata_refused) << r.summary;
  ASSERT_EQ(State().cached_target().target().target_version(), "1.1.0");
  for (bool off : {true, false}) {
    catch_all_off_ = off;
    listed_groups_ = off ? std::vector<std::string>{"dev", "prod"} : std::vector<std::string>{};
    Serve(off ? 4 : 5, "1.1.0", /*critical=*/false);
    coordinator_.target.set_target_version("");
    r = SignedPass();
    EXPECT_TRUE(r.metadata_refused) << off;
    EXPECT_TRUE(absl::StrContains(r.summary, "told this host to run none")) << r.summary;
    EXPECT_EQ(State().cached_target().target().target_version(), "1.1.0") << off;
  }
  EXPECT_TRUE(installer_.installs.empty());
}

TEST_F(SignedUpdaterTest, WithoutARolloutOnlyTheTargetIsAccepted) {
  // A start version signed outside a rollout (mode unspecified) names
  // nothing a host may be told.
  rollout_start_ = "1.0.0";
  installer_.installed = "0.9.0";
  Serve(3, "1.1.0");
  coordinator_.target.set_target_version("1.0.0");
  PassResult r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_TRUE(absl::StrContains(r.summary, "(target 1.1.0, start 1.0.0; no rollout holding hosts back)")) << r.summary;
  EXPECT_TRUE(installer_.installs.empty());
}

TEST_F(SignedUpdaterTest, ARolledBackRolloutAllowsTheDowngradeToTheStartVersionOnly) {
  installer_.installed = "1.1.0";
  rollout_mode_ = v1::TargetMetadata::ROLLOUT_MODE_ROLLED_BACK;
  rollout_start_ = "1.0.0";
  // The target itself is no longer an answer.
  Serve(3, "1.1.0", /*critical=*/true);
  PassResult r = SignedPass();
  EXPECT_TRUE(r.metadata_refused);
  EXPECT_TRUE(absl::StrContains(r.summary, "rollout rolled back: start only")) << r.summary;
  // The start version, with downgrade allowed although the payload's own
  // downgrade_allowed (for the target) is false.
  Serve(4, "1.1.0", /*critical=*/true);
  coordinator_.target.set_target_version("1.0.0");
  r = SignedPass();
  EXPECT_FALSE(r.metadata_refused) << r.summary;
  EXPECT_EQ(r.decision.action, Action::kUpdate) << r.decision.reason;
  EXPECT_EQ(installer_.installs, std::vector<std::string>{"1.0.0"});
  EXPECT_EQ(installer_.installed, "1.0.0");
  EXPECT_TRUE(State().cached_target().target().downgrade_allowed());
  EXPECT_FALSE(State().cached_target().target().critical());
}

TEST_F(SignedUpdaterTest, ALocalRollBackIsRememberedWhileHeldBack) {
  rollout_mode_ = v1::TargetMetadata::ROLLOUT_MODE_HOLDING;
  rollout_start_ = "1.0.0";
  health_.bad = {"1.1.0"};
  Serve(3, "1.1.0");
  PassResult r = SignedPass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_ROLLED_BACK);
  EXPECT_EQ(State().rolled_back_version(), "1.1.0");
  // The rollout halts: held on the start version. The target has not moved
  // on, so the roll-back is remembered...
  Serve(4, "1.1.0");
  coordinator_.target.set_target_version("1.0.0");
  SignedPass();
  EXPECT_EQ(State().rolled_back_version(), "1.1.0");
  // ...and when the rollout resumes, the version that broke here is not
  // tried again.
  Serve(5, "1.1.0");
  r = SignedPass();
  EXPECT_EQ(installer_.installs, std::vector<std::string>{"1.1.0"});
  EXPECT_NE(r.decision.action, Action::kUpdate);
}

// --- The report that says an install is starting. ---

TEST_F(UpdaterTest, AnInstallIsAnnouncedAndTheOutcomeReportSupersedesIt) {
  SetWindow(10, 1);
  std::vector<std::pair<std::string, size_t>> seen;  // updating_to, installs so far
  coordinator_.on_report = [&](const v1::ReportStatusRequest& r) {
    seen.emplace_back(r.updating_to(), installer_.installs.size());
  };
  PassResult r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_TRUE(r.delivered) << r.summary;
  // The status that went with the target fetch, then the announcement.
  ASSERT_EQ(coordinator_.reports.size(), 3u);
  EXPECT_EQ(coordinator_.reports[0].updating_to(), "");
  const v1::ReportStatusRequest& updating = coordinator_.reports[1];
  const v1::ReportStatusRequest& done = coordinator_.reports[2];
  EXPECT_EQ(updating.updating_to(), "1.1.0");
  EXPECT_EQ(updating.current_version(), "1.0.0");
  EXPECT_EQ(updating.outcomes_size(), 0);
  // Sent before the install started.
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1], std::make_pair(std::string("1.1.0"), size_t{0}));
  // The outcome's report comes after it, in sequence too, and says nothing
  // of updating: the coordinator stops counting the host as in flight.
  EXPECT_GT(done.sequence(), updating.sequence());
  EXPECT_EQ(done.updating_to(), "");
  EXPECT_EQ(done.current_version(), "1.1.0");
  ASSERT_EQ(done.outcomes_size(), 1);
  EXPECT_EQ(done.outcomes(0).result(), v1::UPDATE_RESULT_SUCCEEDED);
  // Nothing is announced when there is nothing to install.
  Pass();
  EXPECT_EQ(coordinator_.reports.size(), 4u);
  EXPECT_EQ(coordinator_.reports[3].updating_to(), "");
}

TEST_F(UpdaterTest, AnUndeliveredAnnouncementNeitherStopsTheInstallNorLingers) {
  SetWindow(10, 1);
  // The announcement and the report after the install both fail.
  coordinator_.unavailable_next = 2;
  std::vector<v1::ReportStatusRequest> sent;
  coordinator_.on_report = [&](const v1::ReportStatusRequest& r) { sent.push_back(r); };
  PassResult r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_EQ(installer_.installed, "1.1.0");
  EXPECT_FALSE(r.delivered);
  // The status with the target fetch, delivered; then the two that failed.
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].updating_to(), "");
  EXPECT_EQ(sent[1].updating_to(), "1.1.0");
  // The second attempt resent the announcement's report (same sequence),
  // no longer saying the host is updating: the install is over.
  EXPECT_EQ(sent[2].sequence(), sent[1].sequence());
  EXPECT_EQ(sent[2].updating_to(), "");
  absl::StatusOr<std::optional<PendingReport>> pending = store_->LoadPendingReport();
  ASSERT_TRUE(pending.ok() && pending->has_value());
  EXPECT_EQ((*pending)->request().updating_to(), "");
  // Next pass: delivered, the coordinator never told the host is updating
  // after it was done.
  r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  ASSERT_FALSE(coordinator_.reports.empty());
  for (const v1::ReportStatusRequest& q : coordinator_.reports) EXPECT_EQ(q.updating_to(), "") << q.sequence();
  EXPECT_EQ(coordinator_.reports.back().current_version(), "1.1.0");
  ASSERT_EQ(coordinator_.outcomes.size(), 1u);
  EXPECT_EQ(coordinator_.outcomes[0].result(), v1::UPDATE_RESULT_SUCCEEDED);
}

TEST_F(UpdaterTest, NoAnnouncementWhenTheCoordinatorDidNotAnswer) {
  // A target cached from an earlier pass; the coordinator is gone now, and
  // the agent breaks: repaired with the cached target.
  SetWindow(22, 1);
  Pass();
  coordinator_.reachable = false;
  health_.bad = {"1.0.0"};
  std::vector<v1::ReportStatusRequest> sent;
  coordinator_.on_report = [&](const v1::ReportStatusRequest& q) { sent.push_back(q); };
  PassResult r = Pass();
  EXPECT_EQ(installer_.installs, std::vector<std::string>{"1.1.0"});
  // Two attempts, the status with the target fetch and the report after the
  // install: no announcement to hold the install up first.
  ASSERT_EQ(sent.size(), 2u);
  for (const v1::ReportStatusRequest& q : sent) EXPECT_EQ(q.updating_to(), "");
  absl::StatusOr<std::optional<PendingReport>> pending = store_->LoadPendingReport();
  ASSERT_TRUE(pending.ok() && pending->has_value());
  EXPECT_EQ((*pending)->request().updating_to(), "");
}


// --- One round trip per pass (Sync), and the pace the coordinator sets. ---

TEST_F(UpdaterTest, ASteadyPassIsOneSync) {
  SetWindow(22, 1);  // nothing to install now
  coordinator_.next_sync = absl::Seconds(75);
  Pass();  // learns the windows (its schedule state changes: reported again)
  coordinator_.sync_calls = coordinator_.get_calls = coordinator_.report_calls = 0;
  coordinator_.reports.clear();
  for (int pass = 1; pass <= 3; ++pass) {
    PassResult r = Pass();
    EXPECT_EQ(r.decision.action, Action::kWait);
    EXPECT_TRUE(r.delivered) << r.summary;
    EXPECT_TRUE(r.synced);
    EXPECT_EQ(coordinator_.sync_calls, pass);
    EXPECT_EQ(coordinator_.get_calls, 0);
    EXPECT_EQ(coordinator_.report_calls, 0);
  }
  ASSERT_EQ(coordinator_.reports.size(), 3u);
  // The target asked for is the report's host, channel and group.
  EXPECT_EQ(coordinator_.last_get.host_id(), "host-1");
  EXPECT_EQ(coordinator_.last_get.channel(), "channels/stable");
  EXPECT_TRUE(Saved().has_cached_target());
}

TEST_F(UpdaterTest, AStatusThatChangedAfterTheSyncIsReportedAgain) {
  // The windows arrive with the first answer: the schedule state the Sync
  // report carried (none known) is out of date once they are known.
  SetWindow(22, 1);
  PassResult r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  ASSERT_EQ(coordinator_.reports.size(), 2u);
  EXPECT_NE(coordinator_.reports[0].schedule_state(), coordinator_.reports[1].schedule_state());
  EXPECT_EQ(coordinator_.reports[1].schedule_state(), Saved().schedule_state());
  // From then on, one call per pass.
  Pass();
  EXPECT_EQ(coordinator_.reports.size(), 3u);
  EXPECT_EQ(coordinator_.sync_calls, 2);
}

TEST_F(UpdaterTest, AnOlderCoordinatorWithoutSyncGetsTwoCalls) {
  SetWindow(22, 1);
  Pass();  // windows known: the next passes report one status each
  coordinator_.sync_unimplemented = true;
  coordinator_.next_sync = absl::Seconds(75);  // never seen: Sync fails
  const int syncs = coordinator_.sync_calls, reports = static_cast<int>(coordinator_.reports.size());
  const int gets = coordinator_.get_calls, report_calls = coordinator_.report_calls;
  ::testing::internal::CaptureStderr();
  PassResult r = Pass();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(r.delivered) << r.summary;
  EXPECT_FALSE(r.synced);
  EXPECT_EQ(r.decision.action, Action::kWait);
  EXPECT_EQ(r.next_sync, absl::ZeroDuration());
  EXPECT_EQ(r.poll_interval, absl::Seconds(60));
  // Tried once, then the target and the report apart; remembered for the
  // rest of the pass.
  EXPECT_EQ(coordinator_.sync_calls, syncs + 1);
  EXPECT_EQ(coordinator_.get_calls, gets + 1);
  EXPECT_EQ(coordinator_.report_calls, report_calls + 1);
  EXPECT_EQ(static_cast<int>(coordinator_.reports.size()), reports + 1);
  EXPECT_TRUE(absl::StrContains(log, "does not know Sync")) << log;
  // An update pass too: its announcement and outcome go by ReportStatus.
  coordinator_.target.set_critical(true);
  r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(r.outcome->result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_TRUE(r.delivered) << r.summary;
  EXPECT_EQ(coordinator_.sync_calls, syncs + 2);
  EXPECT_EQ(coordinator_.get_calls, gets + 2);
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);
}

TEST_F(UpdaterTest, TheTargetIsUsedWhenTheReportIsRefused) {
  SetWindow(22, 1);
  Pass();
  coordinator_.target.set_critical(true);
  coordinator_.knobs_on_sync = true;
  coordinator_.refuse_next = 1;
  PassResult r = Pass();
  EXPECT_EQ(r.decision.action, Action::kUpdate);
  EXPECT_EQ(r.decision.reason, "critical update");
  EXPECT_TRUE(r.synced);
  EXPECT_TRUE(r.coordinator_reachable);
  ASSERT_TRUE(r.outcome.has_value());
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);
}

TEST_F(UpdaterTest, TheCoordinatorsIntervalIsHandedOnClamped) {
  SetWindow(22, 1);
  coordinator_.target.mutable_poll_interval()->set_seconds(1);
  coordinator_.next_sync = absl::Seconds(250);
  PassResult r = Pass();
  EXPECT_EQ(r.poll_interval, absl::Seconds(1));
  EXPECT_EQ(r.next_sync, absl::Seconds(250));
  coordinator_.next_sync = absl::Milliseconds(10);
  EXPECT_EQ(Pass().next_sync, kMinPollInterval);
  coordinator_.next_sync = absl::Hours(100);
  EXPECT_EQ(Pass().next_sync, kMaxPollInterval);
  // A configured interval may make the host poll less often, never more.
  config_.mutable_poll_interval()->set_seconds(600);
  coordinator_.next_sync = absl::Seconds(250);
  EXPECT_EQ(Pass().next_sync, absl::Seconds(600));
  config_.mutable_poll_interval()->set_seconds(5);
  EXPECT_EQ(Pass().next_sync, absl::Seconds(250));
  // Said nothing, or not reached: none (the daemon uses the poll interval,
  // or backs off).
  coordinator_.next_sync = absl::ZeroDuration();
  EXPECT_EQ(Pass().next_sync, absl::ZeroDuration());
  coordinator_.next_sync = absl::Seconds(250);
  coordinator_.reachable = false;
  r = Pass();
  EXPECT_EQ(r.next_sync, absl::ZeroDuration());
  EXPECT_FALSE(r.coordinator_reachable);
}

TEST_F(UpdaterTest, AnUnreachableCoordinatorCostsOneAttemptPerPass) {
  SetWindow(22, 1);
  Pass();
  coordinator_.reachable = false;
  int attempts = 0;
  coordinator_.on_report = [&](const v1::ReportStatusRequest&) { ++attempts; };
  PassResult r = Pass();
  EXPECT_FALSE(r.delivered);
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(coordinator_.get_calls, 0);
}

// --- previous_sequence: the chain of acknowledged reports. ---

TEST_F(UpdaterTest, EachReportNamesTheAcknowledgedOneBeforeIt) {
  SetWindow(22, 1);
  Pass();
  Pass();
  Pass();
  const std::vector<v1::ReportStatusRequest>& sent = coordinator_.sent;
  ASSERT_GE(sent.size(), 3u);
  EXPECT_EQ(sent[0].previous_sequence(), 0) << "nothing acknowledged before the first";
  for (size_t i = 1; i < sent.size(); ++i) {
    EXPECT_EQ(sent[i].previous_sequence(), sent[i - 1].sequence()) << i;
  }
  // On disk, so a new pass process continues the chain.
  EXPECT_EQ(Saved().acknowledged_sequence(), sent.back().sequence());
}

TEST_F(UpdaterTest, AnAnnouncementAndTheOutcomeContinueTheChain) {
  SetWindow(10, 1);
  PassResult r = Pass();
  ASSERT_TRUE(r.outcome.has_value());
  const std::vector<v1::ReportStatusRequest>& sent = coordinator_.sent;
  ASSERT_EQ(sent.size(), 3u);  // status (with the target), announcement, outcome
  EXPECT_EQ(sent[1].updating_to(), "1.1.0");
  EXPECT_EQ(sent[1].previous_sequence(), sent[0].sequence());
  EXPECT_EQ(sent[2].outcomes_size(), 1);
  EXPECT_EQ(sent[2].previous_sequence(), sent[1].sequence());
}

TEST_F(UpdaterTest, AnUnansweredReportBreaksTheChainUntilItIsAcknowledged) {
  SetWindow(22, 1);
  Pass();
  const int64_t acked = coordinator_.sent.back().sequence();
  // The call fails: maybe stored by the coordinator, unknown to the host.
  coordinator_.knobs_on_sync = true;
  coordinator_.unavailable_next = 1;
  PassResult r = Pass();
  EXPECT_FALSE(r.delivered);
  EXPECT_EQ(Saved().acknowledged_sequence(), 0);
  const v1::ReportStatusRequest unanswered = coordinator_.sent.back();
  EXPECT_EQ(unanswered.previous_sequence(), acked);
  // Next pass: resent as it was built (same sequence, same predecessor),
  // then the chain goes on from it.
  const size_t before = coordinator_.sent.size();
  r = Pass();
  EXPECT_TRUE(r.delivered) << r.summary;
  ASSERT_GT(coordinator_.sent.size(), before);
  const v1::ReportStatusRequest resent = coordinator_.sent[before];
  EXPECT_EQ(resent.sequence(), unanswered.sequence());
  EXPECT_EQ(resent.previous_sequence(), acked);
  Pass();
  EXPECT_EQ(coordinator_.sent.back().previous_sequence(), coordinator_.sent[coordinator_.sent.size() - 2].sequence());
}

TEST_F(UpdaterTest, ALostAckAfterAnInstallBreaksTheChain) {
  SetWindow(10, 1);
  coordinator_.lose_next_ack = true;  // the outcome's report: stored, answer lost
  PassResult r = Pass();
  EXPECT_FALSE(r.delivered);
  EXPECT_EQ(Saved().acknowledged_sequence(), 0);
  const int64_t lost = coordinator_.sent.back().sequence();
  r = Pass();
  EXPECT_TRUE(r.delivered);
  // Resent (a duplicate, acknowledged), and the next fresh report names it.
  const std::vector<v1::ReportStatusRequest>& sent = coordinator_.sent;
  auto it = std::find_if(sent.rbegin(), sent.rend(),
                         [&](const v1::ReportStatusRequest& q) { return q.previous_sequence() == lost; });
  EXPECT_NE(it, sent.rend()) << "a report after the duplicate names it";
  EXPECT_EQ(coordinator_.outcomes.size(), 1u);
}

TEST_F(UpdaterTest, OutOfOrderAndRefusalsBreakTheChain) {
  SetWindow(22, 1);
  Pass();
  // The coordinator holds a newer sequence (state restored from a backup):
  // the report is rebuilt above it, naming no predecessor.
  coordinator_.stored_sequence = coordinator_.sent.back().sequence() + 10'000'000;
  Pass();
  const v1::ReportStatusRequest out_of_order = coordinator_.sent[coordinator_.sent.size() - 2];
  const v1::ReportStatusRequest again = coordinator_.sent.back();
  EXPECT_NE(out_of_order.previous_sequence(), 0);
  EXPECT_GT(again.sequence(), coordinator_.stored_sequence - 10'000'000);
  EXPECT_EQ(again.previous_sequence(), 0);
  EXPECT_EQ(Saved().acknowledged_sequence(), again.sequence());
  // Refused for what it holds: set aside; the next report names nothing.
  Pass();
  coordinator_.knobs_on_sync = true;
  coordinator_.refuse_next = 1;
  Pass();
  EXPECT_EQ(coordinator_.refused, 1);
  const v1::ReportStatusRequest refused = coordinator_.sent.back();
  EXPECT_NE(refused.previous_sequence(), 0);
  EXPECT_EQ(Saved().acknowledged_sequence(), 0);
  Pass();
  const v1::ReportStatusRequest after = coordinator_.sent.back();
  EXPECT_GT(after.sequence(), refused.sequence());
  EXPECT_EQ(after.previous_sequence(), 0) << "the refused report was sent after the acknowledged one";
  // And the chain starts again from it.
  Pass();
  EXPECT_EQ(coordinator_.sent.back().previous_sequence(), after.sequence());
}

TEST_F(UpdaterTest, TheAcknowledgedSequenceIsOnDiskBeforeTheReportLeavesTheOutbox) {
  SetWindow(22, 1);
  Pass();
  // Seen at the coordinator: the state on disk still names the last
  // acknowledged report, and the report being sent is in the outbox.
  int64_t on_disk = -1;
  bool pending_while_sent = false;
  coordinator_.on_report = [&](const v1::ReportStatusRequest& q) {
    on_disk = Saved().acknowledged_sequence();
    absl::StatusOr<std::optional<PendingReport>> p = store_->LoadPendingReport();
    pending_while_sent = p.ok() && p->has_value() && (*p)->request().sequence() == q.sequence();
  };
  const int64_t before = coordinator_.sent.back().sequence();
  Pass();
  EXPECT_EQ(on_disk, before);
  EXPECT_TRUE(pending_while_sent);
  EXPECT_EQ(Saved().acknowledged_sequence(), coordinator_.sent.back().sequence());
  absl::StatusOr<std::optional<PendingReport>> p = store_->LoadPendingReport();
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->has_value());
}

}  // namespace
}  // namespace drover::updater
