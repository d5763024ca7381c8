// drover-updater end to end: a real coordinator on a real PostgreSQL, real
// updater processes managing real demo agents through the tarball installer
// (signed tarballs, pinned Ed25519 key), killed with real signals.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::BinaryPath;
using ::drover::testing::CommandResult;
using ::drover::testing::CoordinatorProcess;
using ::drover::testing::HttpGet;
using ::drover::testing::PollUntil;
using ::drover::testing::RunCommand;

std::string Tmp(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  return mkdtemp(tmpl.data());
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

// Signed tarballs of every demo-agent version, made once for the suite.
std::string& TarballDir() {
  static std::string dir;
  return dir;
}

// One managed host: a demo agent, its install dir, state dir and config.
struct Host {
  std::string dir, install_dir, state_dir, config, pid_file;
  int port = 0;

  std::string Version() const {
    absl::StatusOr<std::string> v = HttpGet(absl::StrCat("127.0.0.1:", port), "/version");
    return v.ok() ? std::string(absl::StripAsciiWhitespace(*v)) : "down";
  }
  void KillAgent() const {
    std::ifstream in(pid_file);
    pid_t pid = 0;
    if (in >> pid && pid > 0) kill(pid, SIGKILL);
  }
  ~Host() {
    KillAgent();
    RunCommand({"rm", "-rf", dir});
  }
};

class UpdaterE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TarballDir() = Tmp("drover-tarballs-");
    CommandResult r = RunCommand({std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/make_tarballs.sh", TarballDir(),
                                  DROVER_BIN_DIR},
                                 absl::Seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { RunCommand({"rm", "-rf", TarballDir()}); }

  void SetUp() override {
    db_ = testing::NewTestDatabase();
    StartCoordinator();
  }

  void StartCoordinator(int port = 0, std::vector<std::string> flags = {}) {
    if (port != 0) flags.push_back(absl::StrCat("--grpc_listen=127.0.0.1:", port));
    absl::StatusOr<std::unique_ptr<CoordinatorProcess>> c = CoordinatorProcess::Start(db_, flags);
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = *std::move(c);
    ops_ = v1::OperatorService::NewStub(
        grpc::CreateChannel(coordinator_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  int CoordinatorPort() const {
    const std::string& a = coordinator_->grpc_address();
    return std::stoi(a.substr(a.rfind(':') + 1));
  }

  void CreateChannel(const std::string& target, bool window_now, int64_t poll_seconds = 1) {
    v1::CreateChannelRequest req;
    req.set_channel_id("demo");
    req.set_control_plane_version("1.3.0");
    req.set_target_version(target);
    req.mutable_poll_interval()->set_seconds(poll_seconds);
    v1::MaintenanceWindow* w = req.add_maintenance_windows();
    const int hour = absl::ToCivilHour(absl::Now(), absl::UTCTimeZone()).hour();
    // Now is inside [hour-1, hour+2), or well outside [hour+6, hour+7).
    w->set_utc_start_hour(window_now ? (hour + 23) % 24 : (hour + 6) % 24);
    w->mutable_duration()->set_seconds(window_now ? 3 * 3600 : 3600);
    v1::Channel out;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->CreateChannel(&ctx, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // A rollout policy under which no failure halts the channel's rollouts,
  // for tests of the updater's own rules on failures.
  void TolerateEveryFailure() {
    v1::SetRolloutPolicyRequest req;
    req.set_channel("channels/demo");
    req.mutable_policy()->set_canary_budget("100%");
    req.mutable_policy()->set_group_budget("100%");
    v1::RolloutPolicy out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->SetRolloutPolicy(&ctx, req, &out).ok());
  }

  void SetTarget(const std::string& version, bool allow_downgrade = false) {
    v1::SetTargetVersionRequest req;
    req.set_name("channels/demo");
    req.set_version(version);
    req.set_allow_downgrade(allow_downgrade);
    v1::Channel out;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->SetTargetVersion(&ctx, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // A new target starts a staged rollout: each host the coordinator knows
    // is told it once the engine lets it in (as a canary, with this fleet of
    // at most a few hosts), within a tick or two.
    auto updater = v1::UpdaterService::NewStub(
        grpc::CreateChannel(coordinator_->grpc_address(), grpc::InsecureChannelCredentials()));
    for (const std::string& host : hosts_) {
      v1::GetAgentRequest a;
      a.set_host_id(host);
      v1::Agent agent;
      grpc::ClientContext actx;
      if (!ops_->GetAgent(&actx, a, &agent).ok()) continue;  // not reported yet: let in once it has
      ASSERT_TRUE(testing::PollUntil(absl::Seconds(30), [&] {
        v1::GetTargetRequest t;
        t.set_channel("channels/demo");
        t.set_host_id(host);
        v1::GetTargetResponse answer;
        grpc::ClientContext c;
        return updater->GetTarget(&c, t, &answer).ok() && answer.target_version() == version;
      })) << host << " was not let in to " << version;
    }
  }

  void SetCritical(bool critical) {
    v1::SetCriticalRequest req;
    req.set_name("channels/demo");
    req.set_critical(critical);
    req.set_reason(critical ? "e2e test" : "");
    v1::Channel out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->SetCritical(&ctx, req, &out).ok());
  }

  std::vector<v1::UpdateEvent> Events(const std::string& host_id) {
    v1::ListUpdateEventsRequest req;
    req.set_host_id(host_id);
    v1::ListUpdateEventsResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(ops_->ListUpdateEvents(&ctx, req, &resp).ok());
    return {resp.events().begin(), resp.events().end()};
  }

  // `health_check`: the body of agent.health_check; default the agent's /readyz.
  std::unique_ptr<Host> NewHost(const std::string& name, const std::string& base = "",
                                const std::string& extra_config = "", const std::string& health_check = "") {
    auto h = std::make_unique<Host>();
    hosts_.push_back(name);
    h->dir = Tmp("drover-host-");
    h->install_dir = h->dir + "/agent";
    h->state_dir = h->dir + "/state";
    h->pid_file = h->dir + "/agent.pid";
    h->port = testing::FreePort();
    h->config = h->dir + "/updater.conf";
    WriteText(h->config,
              absl::StrCat("coordinator: \"", coordinator_->grpc_address(), "\"\n", "channel: \"demo\"\n",
                           "host_id: \"", name, "\"\n", "state_dir: \"", h->state_dir, "\"\n",
                           "backoff_initial { nanos: 100000000 }\nbackoff_max { seconds: 1 }\n",
                           "rpc_timeout { seconds: 3 }\n", "insecure_unsigned_targets: true\n", extra_config,
                           "agent {\n  name: \"demo-agent\"\n  tarball { base: \"", base.empty() ? TarballDir() : base,
                           "\" public_key_file: \"", TarballDir(), "/tarball-key.pub.pem\" install_dir: \"",
                           h->install_dir, "\" }\n", "  restart_command: [\"", DROVER_SOURCE_DIR,
                           "/tests/fixtures/demo-agent/restart.sh\", \"", h->install_dir, "\", \"", h->port, "\", \"",
                           h->pid_file, "\"]\n", "  health_check { ",
                           health_check.empty() ? absl::StrCat("http { url: \"http://127.0.0.1:", h->port, "/readyz\" }")
                                                : health_check,
                           " timeout { seconds: 2 } }\n",
                           "  health_grace { seconds: 5 }\n  health_watch { seconds: 1 }\n}\n"));
    return h;
  }

  CommandResult Updater(const Host& h, const std::string& command, absl::Duration timeout = absl::Seconds(60)) {
    return RunCommand({BinaryPath("drover-updater"), command, "--config=" + h.config}, timeout);
  }

  std::string db_;
  std::vector<std::string> hosts_;  // host ids NewHost made
  std::unique_ptr<CoordinatorProcess> coordinator_;
  std::unique_ptr<v1::OperatorService::Stub> ops_;
};

TEST_F(UpdaterE2eTest, InstallsThenUpdatesInsideTheWindow) {
  CreateChannel("1.0.0", /*window_now=*/true);
  auto h = NewHost("host-in");
  CommandResult r = Updater(*h, "once");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(h->Version(), "1.0.0");

  SetTarget("1.1.0");
  r = Updater(*h, "once");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "inside maintenance window")) << r.output;
  EXPECT_EQ(h->Version(), "1.1.0");
  std::vector<v1::UpdateEvent> events = Events("host-in");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].outcome().result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_EQ(events[0].outcome().from_version(), "1.0.0");
  EXPECT_EQ(events[0].outcome().to_version(), "1.1.0");

  CommandResult status = Updater(*h, "status");
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(status.output, "installed:        1.1.0")) << status.output;
  EXPECT_TRUE(absl::StrContains(status.output, "inside a window now")) << status.output;
  EXPECT_TRUE(absl::StrContains(status.output, "pending outbox:   0 outcomes")) << status.output;
  // Each pass reported and fetched its target with one Sync.
  absl::StatusOr<std::string> metrics = HttpGet(coordinator_->metrics_address(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(testing::MetricValue(*metrics, "drover_rpc_requests_total{code=\"OK\",method=\"Sync\"}"), 2)
      << *metrics;
}

TEST_F(UpdaterE2eTest, OutsideTheWindowWaitsUntilCritical) {
  CreateChannel("1.0.0", /*window_now=*/false);
  auto h = NewHost("host-out");
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);  // not installed: installs at once
  EXPECT_EQ(h->Version(), "1.0.0");
  SetTarget("1.1.0");
  CommandResult r = Updater(*h, "once");
  EXPECT_TRUE(absl::StrContains(r.output, "outside maintenance window")) << r.output;
  EXPECT_EQ(h->Version(), "1.0.0");

  SetCritical(true);
  r = Updater(*h, "once");
  EXPECT_TRUE(absl::StrContains(r.output, "critical update")) << r.output;
  EXPECT_EQ(h->Version(), "1.1.0");
}

TEST_F(UpdaterE2eTest, UnhealthyAgentUpdatesAtOnce) {
  CreateChannel("1.0.0", /*window_now=*/false);
  auto h = NewHost("host-sick");
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);
  SetTarget("1.1.0");
  h->KillAgent();
  ASSERT_TRUE(PollUntil(absl::Seconds(5), [&] { return h->Version() == "down"; }));
  CommandResult r = Updater(*h, "once");
  EXPECT_TRUE(absl::StrContains(r.output, "agent unhealthy")) << r.output;
  EXPECT_EQ(h->Version(), "1.1.0");
}

TEST_F(UpdaterE2eTest, MissingScheduleUpdatesAtOnceAndNopDoesNothing) {
  CreateChannel("1.0.0", /*window_now=*/false);
  auto h = NewHost("host-file", "", "schedule_file: \"/nonexistent/schedule\"\n");
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);
  SetTarget("1.1.0");
  CommandResult r = Updater(*h, "once");
  EXPECT_TRUE(absl::StrContains(r.output, "no maintenance schedule known")) << r.output;
  EXPECT_EQ(h->Version(), "1.1.0");

  const std::string sched = h->dir + "/schedule";
  auto nop = NewHost("host-nop", "", absl::StrCat("schedule_file: \"", h->dir, "/schedule\"\n"));
  WriteText(sched, "nop\n");
  SetCritical(true);
  r = Updater(*nop, "once");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "nop")) << r.output;
  EXPECT_EQ(nop->Version(), "down");  // not even installed
}

TEST_F(UpdaterE2eTest, TwoUpdatersSharingAHostIdAreFlaggedAsAConflict) {
  // Issue 12: hosts made from one image share a host id; their state was
  // silently merged.
  CreateChannel("1.0.0", /*window_now=*/true);
  auto a = NewHost("golden");
  auto b = NewHost("golden");
  auto agent = [&]() {
    v1::GetAgentRequest req;
    req.set_host_id("golden");
    v1::Agent out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(ops_->GetAgent(&ctx, req, &out).ok());
    return out;
  };
  ASSERT_EQ(Updater(*a, "once").exit_code, 0);
  const std::string first = agent().instance_id();
  EXPECT_EQ(first.size(), 32u);
  ASSERT_EQ(Updater(*b, "once").exit_code, 0);
  EXPECT_NE(agent().instance_id(), first);
  EXPECT_FALSE(agent().instance_conflict());  // so far it could be a reinstall
  ASSERT_EQ(Updater(*a, "once").exit_code, 0);
  v1::Agent flagged = agent();
  EXPECT_EQ(flagged.instance_id(), first);  // each state directory keeps its id
  EXPECT_TRUE(flagged.instance_conflict());
  v1::ListAgentsRequest req;
  req.set_instance_conflict_only(true);
  v1::ListAgentsResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->ListAgents(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.agents_size(), 1);
  EXPECT_EQ(resp.agents(0).host_id(), "golden");
}

TEST_F(UpdaterE2eTest, ScheduleStateIsReportedAndCheckWarnsAboutTheFile) {
  CreateChannel("1.0.0", /*window_now=*/true);
  auto missing = NewHost("host-missing", "", "schedule_file: \"/nonexistent/schedule\"\n");
  CommandResult check = Updater(*missing, "check");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(absl::StrContains(check.output, "warning: schedule file /nonexistent/schedule does not exist"))
      << check.output;
  ASSERT_EQ(Updater(*missing, "once").exit_code, 0);
  auto windows = NewHost("host-windows");
  EXPECT_FALSE(absl::StrContains(Updater(*windows, "check").output, "warning"));
  ASSERT_EQ(Updater(*windows, "once").exit_code, 0);
  auto state = [&](const std::string& host) {
    v1::GetAgentRequest req;
    req.set_host_id(host);
    v1::Agent out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(ops_->GetAgent(&ctx, req, &out).ok());
    return out.schedule_state();
  };
  EXPECT_EQ(state("host-missing"), v1::SCHEDULE_STATE_MISSING);
  EXPECT_EQ(state("host-windows"), v1::SCHEDULE_STATE_OK);
  v1::GetRolloutStatusRequest req;
  req.set_name("channels/demo");
  v1::RolloutStatus st;
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->GetRolloutStatus(&ctx, req, &st).ok());
  EXPECT_EQ(st.schedule_states_size(), 2);
}

TEST_F(UpdaterE2eTest, BrokenVersionIsRolledBackReportedAndNotRetried) {
  CreateChannel("1.1.0", /*window_now=*/true);
  // The updater's own rule is under test here, not the rollout's brake
  // (rollout_test, rollout_sim_e2e): a policy that tolerates every failure
  // keeps the host told 1.3.0 after its roll-back, instead of halting the
  // rollout and holding the host back, whichever comes first.
  TolerateEveryFailure();
  auto h = NewHost("host-broken");
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);
  SetTarget("1.2.0");
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);
  SetTarget("1.3.0");  // built to be unhealthy
  CommandResult r = Updater(*h, "once");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(h->Version(), "1.2.0");
  // The roll-back is in the log with its reason.
  EXPECT_TRUE(absl::StrContains(r.output, "ERROR update of demo-agent from 1.2.0 to 1.3.0 was rolled back: 1.3.0 is "
                                          "unhealthy"))
      << r.output;
  // The current and the last good version are kept, not the broken one.
  // (Each with its <version>.verified marker.)
  CommandResult versions = RunCommand({"ls", h->install_dir + "/versions"});
  EXPECT_EQ(versions.output, "1.1.0\n1.1.0.verified\n1.2.0\n1.2.0.verified\n");
  std::vector<v1::UpdateEvent> events = Events("host-broken");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].outcome().result(), v1::UPDATE_RESULT_ROLLED_BACK);
  EXPECT_TRUE(absl::StrContains(events[0].outcome().error(), "1.3.0 is unhealthy")) << events[0].outcome().error();
  EXPECT_TRUE(absl::StrContains(events[0].outcome().error(), "503")) << events[0].outcome().error();

  r = Updater(*h, "once");
  EXPECT_TRUE(absl::StrContains(r.output, "was rolled back")) << r.output;
  EXPECT_EQ(Events("host-broken").size(), events.size());
  // An operator clears the mark: it is tried (and rolled back) again.
  EXPECT_EQ(Updater(*h, "clear").exit_code, 0);
  Updater(*h, "once");
  EXPECT_EQ(Events("host-broken").size(), events.size() + 1);
  EXPECT_EQ(h->Version(), "1.2.0");
}

TEST_F(UpdaterE2eTest, TamperedTarballOrSignatureIsRefused) {
  CreateChannel("1.0.0", /*window_now=*/true);
  // The updater's refusal is under test: the rollout must keep telling the
  // host the refused version rather than halt on its failure (which CI's
  // timing made it do before the next pass).
  TolerateEveryFailure();
  const std::string bad = Tmp("drover-bad-tarballs-");
  for (const char* f : {"demo-agent-1.0.0.tar.gz", "demo-agent-1.0.0.tar.gz.manifest", "demo-agent-1.1.0.tar.gz",
                        "demo-agent-1.1.0.tar.gz.manifest", "demo-agent-1.2.0.tar.gz"}) {
    RunCommand({"cp", TarballDir() + "/" + f, bad + "/" + f});
  }
  // 1.1.0: one byte of the archive changed. 1.2.0: the signed manifest of
  // another version (the renamed-artifact attack).
  RunCommand({"sh", "-c", absl::StrCat("printf 'X' | dd of=", bad, "/demo-agent-1.1.0.tar.gz bs=1 seek=100 conv=notrunc")});
  RunCommand({"cp", TarballDir() + "/demo-agent-1.0.0.tar.gz.manifest", bad + "/demo-agent-1.2.0.tar.gz.manifest"});
  auto h = NewHost("host-tamper", bad);
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);
  for (const std::string v : {"1.1.0", "1.2.0"}) {
    SetTarget(v);
    CommandResult r = Updater(*h, "once");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(h->Version(), "1.0.0");
    std::vector<v1::UpdateEvent> events = Events("host-tamper");
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events[0].outcome().result(), v1::UPDATE_RESULT_FAILED);
    EXPECT_TRUE(absl::StrContains(events[0].outcome().error(), "signed manifest") ||
                absl::StrContains(events[0].outcome().error(), "artifact manifest"))
        << events[0].outcome().error();
    // The refusal is in the updater's log, with its reason.
    EXPECT_TRUE(absl::StrContains(r.output, absl::StrCat("ERROR update of demo-agent from 1.0.0 to ", v, " failed")))
        << r.output;
    // Parked: the next passes neither retry nor report it again.
    const size_t reported = events.size();
    for (int i = 0; i < 2; ++i) {
      r = Updater(*h, "once");
      EXPECT_EQ(r.exit_code, 0) << r.output;
      EXPECT_TRUE(absl::StrContains(r.output, absl::StrCat(v, " failed to install (1 attempt); next try after")))
          << r.output;
    }
    EXPECT_EQ(Events("host-tamper").size(), reported);
    r = Updater(*h, "status");
    EXPECT_TRUE(absl::StrContains(r.output, absl::StrCat("failed install:   ", v, " (1 attempt"))) << r.output;
  }
  RunCommand({"rm", "-rf", bad});
}

// Issue 12 item 1: colour codes in a health command's output made the report
// carrying the roll-back unacceptable, and it blocked every later report.
TEST_F(UpdaterE2eTest, ColouredHealthOutputIsReportedAndNothingIsBlocked) {
  CreateChannel("1.2.0", /*window_now=*/true);
  std::unique_ptr<Host> h;
  const std::string check = "command { argv: [\"sh\", \"-c\", \"case $(readlink $0/current) in *1.3.0) printf "
                             "'\\\\033[31mnot ready\\\\033[0m\\\\n'; exit 1;; esac\", \"INSTALL\"] }";
  h = NewHost("host-colour", "", "", check);
  // The install dir is known only now.
  CommandResult fix = RunCommand({"sed", "-i", absl::StrCat("s|\"INSTALL\"|\"", h->install_dir, "\"|"), h->config});
  ASSERT_EQ(fix.exit_code, 0) << fix.output;
  ASSERT_EQ(Updater(*h, "once").exit_code, 0) << Updater(*h, "status").output;
  SetTarget("1.3.0");
  CommandResult r = Updater(*h, "once");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::vector<v1::UpdateEvent> events = Events("host-colour");
  ASSERT_EQ(events.size(), 2u) << r.output;
  EXPECT_EQ(events[0].outcome().result(), v1::UPDATE_RESULT_ROLLED_BACK);
  EXPECT_TRUE(absl::StrContains(events[0].outcome().error(), "not ready")) << events[0].outcome().error();
  EXPECT_FALSE(absl::StrContains(events[0].outcome().error(), "\033")) << events[0].outcome().error();
  EXPECT_FALSE(absl::StrContains(r.output, "refused")) << r.output;
  // The log stays one entry per line: the escape shows as \x1b.
  EXPECT_FALSE(absl::StrContains(r.output, "\033")) << r.output;
}

// Issue 12 item 5: a mistyped channel was "coordinator unreachable".
TEST_F(UpdaterE2eTest, UnknownChannelIsNamedAsSuch) {
  CreateChannel("1.0.0", /*window_now=*/true);
  auto h = NewHost("host-typo");
  CommandResult r = RunCommand({BinaryPath("drover-updater"), "once", "--config=" + h->config, "--channel=dmeo"});
  EXPECT_TRUE(absl::StrContains(r.output, "channel \"dmeo\" does not exist on the coordinator")) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "unreachable")) << r.output;
}

TEST_F(UpdaterE2eTest, CoordinatorDownDuringUpdateOutcomeArrivesWhenItReturns) {
  CreateChannel("1.0.0", /*window_now=*/true);
  auto h = NewHost("host-outage", "", "");
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);
  // A longer watch leaves time to stop the coordinator mid-update.
  RunCommand({"sed", "-i", "s/health_watch { seconds: 1 }/health_watch { seconds: 4 }/", h->config});
  SetTarget("1.1.0");
  const int port = CoordinatorPort();
  CommandResult r;
  std::thread pass([&] { r = Updater(*h, "once"); });
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return h->Version() == "1.1.0"; }));
  coordinator_->Signal(SIGKILL);
  coordinator_->WaitForExit(absl::Seconds(10));
  pass.join();
  EXPECT_TRUE(absl::StrContains(r.output, "kept in the outbox")) << r.output;
  CommandResult status = Updater(*h, "status");
  EXPECT_TRUE(absl::StrContains(status.output, "1 report")) << status.output;

  StartCoordinator(port);
  EXPECT_EQ(Updater(*h, "once").exit_code, 0);
  std::vector<v1::UpdateEvent> events = Events("host-outage");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].outcome().to_version(), "1.1.0");
  EXPECT_EQ(events[0].outcome().result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_TRUE(absl::StrContains(Updater(*h, "status").output, "pending outbox:   0 outcomes"));
}

TEST_F(UpdaterE2eTest, UpdaterKilledMidUpdateRecoversOnNextPass) {
  CreateChannel("1.0.0", /*window_now=*/true);
  auto h = NewHost("host-killed");
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);
  // A long watch, so the kill lands mid-update.
  RunCommand({"sed", "-i", "s/health_watch { seconds: 1 }/health_watch { seconds: 30 }/", h->config});
  SetTarget("1.1.0");
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(BinaryPath("drover-updater").c_str(), "drover-updater", "once", ("--config=" + h->config).c_str(),
          nullptr);
    _exit(127);
  }
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return h->Version() == "1.1.0"; }));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  // Only one pass at a time: a killed process released its lock.
  RunCommand({"sed", "-i", "s/health_watch { seconds: 30 }/health_watch { seconds: 1 }/", h->config});
  CommandResult r = Updater(*h, "once");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "interrupted")) << r.output;
  EXPECT_EQ(h->Version(), "1.1.0");
  std::vector<v1::UpdateEvent> events = Events("host-killed");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].outcome().result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_EQ(events[0].outcome().to_version(), "1.1.0");
}

TEST_F(UpdaterE2eTest, DaemonConvergesAndStopsOnSigterm) {
  CreateChannel("1.0.0", /*window_now=*/true);
  auto a = NewHost("daemon-a"), b = NewHost("daemon-b");
  std::vector<pid_t> pids;
  for (Host* h : {a.get(), b.get()}) {
    pid_t pid = fork();
    if (pid == 0) {
      int log = open((h->dir + "/updater.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(log, 1);
      dup2(log, 2);
      execl(BinaryPath("drover-updater").c_str(), "drover-updater", "run", ("--config=" + h->config).c_str(),
            nullptr);
      _exit(127);
    }
    pids.push_back(pid);
  }
  EXPECT_TRUE(PollUntil(absl::Seconds(60), [&] { return a->Version() == "1.0.0" && b->Version() == "1.0.0"; }));
  // Their first installs reported before the target moves on.
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return Events("daemon-a").size() == 1 && Events("daemon-b").size() == 1; }));
  SetTarget("1.1.0");
  EXPECT_TRUE(PollUntil(absl::Seconds(60), [&] { return a->Version() == "1.1.0" && b->Version() == "1.1.0"; }));
  // Another pass cannot start while the daemon holds the lock mid-pass; when
  // idle, `once` may run.
  for (pid_t pid : pids) {
    kill(pid, SIGTERM);
    int status = 0;
    bool exited = PollUntil(absl::Seconds(30), [&] { return waitpid(pid, &status, WNOHANG) == pid; });
    ASSERT_TRUE(exited);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  for (Host* h : {a.get(), b.get()}) {
    std::ifstream log(h->dir + "/updater.log");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(absl::StrContains(text, "stopping")) << text;
  }
  v1::GetRolloutStatusRequest req;
  req.set_name("channels/demo");
  v1::RolloutStatus st;
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->GetRolloutStatus(&ctx, req, &st).ok());
  EXPECT_EQ(st.on_target(), 2);
  EXPECT_EQ(st.succeeded_since_target(), 2);
}

// The daemon's pass processes: children of `daemon` running drover-updater-pass.
std::vector<pid_t> PassesOf(pid_t daemon) {
  std::vector<pid_t> out;
  std::ifstream children(absl::StrCat("/proc/", daemon, "/task/", daemon, "/children"));
  pid_t pid = 0;
  while (children >> pid) {
    std::ifstream cmdline(absl::StrCat("/proc/", pid, "/cmdline"));
    std::string cmd((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (absl::StrContains(cmd, "drover-updater-pass")) out.push_back(pid);
  }
  return out;
}

std::string ReadLog(const std::string& path) {
  std::ifstream log(path);
  return std::string((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
}

pid_t StartDaemon(const std::string& dir, const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    int log = open((dir + "/updater.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log, 1);
    dup2(log, 2);
    std::vector<char*> argv = {const_cast<char*>("drover-updater"), const_cast<char*>("run")};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(BinaryPath("drover-updater").c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int StopDaemon(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  if (!PollUntil(absl::Seconds(30), [&] { return waitpid(pid, &status, WNOHANG) == pid; })) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(UpdaterE2eTest, DaemonSurvivesAPassKilledMidUpdateAndTheNextPassFinishesIt) {
  CreateChannel("1.0.0", /*window_now=*/true);
  auto h = NewHost("daemon-kill");
  ASSERT_EQ(Updater(*h, "once").exit_code, 0);
  // A long watch, so the kill lands mid-update.
  RunCommand({"sed", "-i", "s/health_watch { seconds: 1 }/health_watch { seconds: 30 }/", h->config});
  const pid_t daemon = StartDaemon(h->dir, {"--config=" + h->config});
  SetTarget("1.1.0");
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return h->Version() == "1.1.0"; }));
  std::vector<pid_t> passes = PassesOf(daemon);
  ASSERT_EQ(passes.size(), 1u) << ReadLog(h->dir + "/updater.log");
  // Each pass re-reads the configuration: the next one watches briefly.
  RunCommand({"sed", "-i", "s/health_watch { seconds: 30 }/health_watch { seconds: 1 }/", h->config});
  kill(passes[0], SIGKILL);
  // The daemon carries on: the next pass finds the interrupted update,
  // finishes it and reports it.
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return Events("daemon-kill").size() == 2; }));
  const std::string log = ReadLog(h->dir + "/updater.log");
  EXPECT_TRUE(absl::StrContains(log, "pass died of signal 9")) << log;
  EXPECT_TRUE(absl::StrContains(log, "interrupted")) << log;
  EXPECT_EQ(h->Version(), "1.1.0");
  std::vector<v1::UpdateEvent> events = Events("daemon-kill");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].outcome().result(), v1::UPDATE_RESULT_SUCCEEDED);
  EXPECT_EQ(events[0].outcome().to_version(), "1.1.0");
  EXPECT_EQ(StopDaemon(daemon), 0);
}

TEST_F(UpdaterE2eTest, DaemonKillsAWedgedPassWithEverythingItStarted) {
  CreateChannel("1.0.0", /*window_now=*/true);
  auto h = NewHost("daemon-wedge");
  // A restart command that never returns and has a child of its own, both
  // marked (the shell by its script, the child by its argv[0]) to find them.
  const std::string marker = absl::StrCat("wedge-", getpid());
  RunCommand({"sed", "-i",
              absl::StrCat("s|restart_command: .*|restart_command: [\"bash\", \"-c\", \"(exec -a ", marker,
                           " sleep 600) \\& sleep 600; : ", marker, "\"]|"),
              h->config});
  const pid_t daemon = StartDaemon(h->dir, {"--config=" + h->config, "--max_pass_duration=2s"});
  const std::string log_path = h->dir + "/updater.log";
  // Both are there while the pass hangs...
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] {
    return RunCommand({"pgrep", "-c", "-f", marker}).output.find('2') == 0;
  })) << RunCommand({"pgrep", "-a", "-f", marker}).output;
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] {
    return absl::StrContains(ReadLog(log_path), "pass still running after 2s: killed it");
  })) << ReadLog(log_path);
  // ...and went with it: no wedged helper is left behind.
  EXPECT_TRUE(PollUntil(absl::Seconds(5), [&] { return RunCommand({"pgrep", "-f", marker}).exit_code == 1; }));
  // And the daemon is still there, trying again.
  EXPECT_EQ(waitpid(daemon, nullptr, WNOHANG), 0);
  EXPECT_EQ(StopDaemon(daemon), 0);
  EXPECT_EQ(RunCommand({"pgrep", "-f", marker}).exit_code, 1);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Pushed changes: with `watch` configured, a daemon polling every 10 min
// runs a pass as soon as its answer changes, and again after the
// coordinator restarted (the watch reconnects by itself).
TEST_F(UpdaterE2eTest, DaemonRunsAPassAsSoonAsItsAnswerChangesAlsoAfterARestart) {
  const int grpc_port = testing::FreePort(), watch_port = testing::FreePort();
  const std::vector<std::string> flags = {absl::StrCat("--watch_listen=127.0.0.1:", watch_port)};
  coordinator_.reset();
  StartCoordinator(grpc_port, flags);
  ASSERT_EQ(coordinator_->watch_address(), absl::StrCat("127.0.0.1:", watch_port));
  CreateChannel("1.0.0", /*window_now=*/true, /*poll_seconds=*/600);
  TolerateEveryFailure();
  auto h = NewHost("daemon-push", "", absl::StrCat("watch: \"", coordinator_->watch_address(), "\"\n"));
  const pid_t daemon = StartDaemon(h->dir, {"--config=" + h->config});
  const std::string log_path = h->dir + "/updater.log";
  ASSERT_TRUE(PollUntil(absl::Seconds(60), [&] { return h->Version() == "1.0.0"; })) << ReadLog(log_path);
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] {
    return Count(ReadLog(log_path), "connected; a change of this host's answer starts a pass") == 1;
  })) << ReadLog(log_path);
  // The first pass waits the coordinator's interval: at least 540 s.
  EXPECT_TRUE(absl::StrContains(ReadLog(log_path), "next in 9m") ||
              absl::StrContains(ReadLog(log_path), "next in 10m") ||
              absl::StrContains(ReadLog(log_path), "next in 11m"))
      << ReadLog(log_path);

  const std::string kAnnounced = "the coordinator announced a change of this host's answer: pass in";
  // Settled: every announcement so far (the first report itself changes the
  // host's answer: it is now known to the rollout) has had its pass.
  auto settled = [&] {
    const std::string log = ReadLog(log_path);
    return Count(log, "pass took") == Count(log, kAnnounced) + 1;
  };
  ASSERT_TRUE(PollUntil(absl::Seconds(30), settled)) << ReadLog(log_path);
  size_t announced = Count(ReadLog(log_path), kAnnounced);

  const absl::Time changed = absl::Now();
  SetTarget("1.1.0");
  ASSERT_TRUE(PollUntil(absl::Seconds(60), [&] { return h->Version() == "1.1.0"; })) << ReadLog(log_path);
  const absl::Duration took = absl::Now() - changed;
  EXPECT_GT(Count(ReadLog(log_path), kAnnounced), announced) << ReadLog(log_path);
  std::fprintf(stderr, "pushed: target change to agent on 1.1.0 in %.2f s (poll interval 600 s)\n",
               absl::ToDoubleSeconds(took));

  // A restart: the watch connection drops, comes back by itself, and the
  // next change (a critical toggle: no new version) is pushed again.
  coordinator_->Signal(SIGTERM);
  ASSERT_NE(coordinator_->WaitForExit(absl::Seconds(30)), -1);
  coordinator_.reset();
  StartCoordinator(grpc_port, flags);
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] {
    return Count(ReadLog(log_path), "connected; a change of this host's answer starts a pass") == 2;
  })) << ReadLog(log_path);
  // Lost (closed while held, or refused while the coordinator restarted),
  // told once, and back.
  EXPECT_GE(Count(ReadLog(log_path), "; polling meanwhile, trying again in"), 1u) << ReadLog(log_path);
  ASSERT_TRUE(PollUntil(absl::Seconds(30), settled)) << ReadLog(log_path);
  announced = Count(ReadLog(log_path), kAnnounced);
  const size_t passes = Count(ReadLog(log_path), "pass took");
  SetCritical(true);
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return Count(ReadLog(log_path), kAnnounced) > announced; }))
      << ReadLog(log_path);
  // The pass it started ran, and then the watch is held again: no pass loop
  // (a poll answered at once would leave nobody waiting).
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return Count(ReadLog(log_path), "pass took") > passes; }))
      << ReadLog(log_path);
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] {
    absl::StatusOr<std::string> m = HttpGet(coordinator_->metrics_address(), "/metrics");
    return settled() && m.ok() && testing::MetricValue(*m, "drover_watch_waiting") == 1;
  })) << ReadLog(log_path);
  const size_t settled_at = Count(ReadLog(log_path), kAnnounced);
  EXPECT_LE(settled_at, announced + 2) << ReadLog(log_path);
  EXPECT_EQ(StopDaemon(daemon), 0);
}

// A watch endpoint that is down only costs latency: the daemon polls.
TEST_F(UpdaterE2eTest, DaemonPollsWhenTheWatchEndpointIsDown) {
  CreateChannel("1.0.0", /*window_now=*/true);
  const int nobody = testing::FreePort();
  auto h = NewHost("daemon-nowatch", "", absl::StrCat("watch: \"127.0.0.1:", nobody, "\"\n"));
  const pid_t daemon = StartDaemon(h->dir, {"--config=" + h->config});
  const std::string log_path = h->dir + "/updater.log";
  ASSERT_TRUE(PollUntil(absl::Seconds(60), [&] { return h->Version() == "1.0.0"; })) << ReadLog(log_path);
  SetTarget("1.1.0");
  EXPECT_TRUE(PollUntil(absl::Seconds(60), [&] { return h->Version() == "1.1.0"; })) << ReadLog(log_path);
  const std::string log = ReadLog(log_path);
  EXPECT_TRUE(absl::StrContains(log, absl::StrCat("watch 127.0.0.1:", nobody,
                                                  ": connect: Connection refused; polling meanwhile")))
      << log;
  // Logged when lost, not at every retry (at most once per good pass that
  // restarts the watch; watch_client_test holds the exact rule).
  EXPECT_GE(Count(log, "Connection refused"), 1u) << log;
  EXPECT_LE(Count(log, "Connection refused"), Count(log, "pass took")) << log;
  EXPECT_EQ(StopDaemon(daemon), 0);
}

TEST_F(UpdaterE2eTest, DaemonRefusesBadConfigurationAtStart) {
  auto h = NewHost("daemon-badconf");
  RunCommand({"sed", "-i", "s/channel: \"demo\"/channel: \"Demo Channel\"/", h->config});
  CommandResult r = RunCommand({BinaryPath("drover-updater"), "run", "--config=" + h->config});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.output, "\"Demo Channel\"")) << r.output;
  RunCommand({"sed", "-i", "s/channel: \"Demo Channel\"/channel: \"demo\"/", h->config});
  RunCommand({"sh", "-c", "echo 'watch: \"http://c:7602/v1/watch\"' >> " + h->config});
  r = RunCommand({BinaryPath("drover-updater"), "run", "--config=" + h->config});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.output, "\"http://c:7602/v1/watch\"")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "--watch_listen")) << r.output;
  r = RunCommand({BinaryPath("drover-updater"), "run", "--config=" + h->config, "--max_pass_duration=soon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.output, "--max_pass_duration=\"soon\"")) << r.output;
  r = RunCommand({BinaryPath("drover-updater")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.output, "expected one command")) << r.output;
}

TEST_F(UpdaterE2eTest, BadConfigurationIsRefusedNamingTheField) {
  auto h = NewHost("host-badconf");
  RunCommand({"sed", "-i", "s/channel: \"demo\"/channel: \"Demo Channel\"/", h->config});
  CommandResult r = Updater(*h, "once");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.output, "\"Demo Channel\"")) << r.output;
  RunCommand({"sh", "-c", "echo 'bogus_field: 1' >> " + h->config});
  r = Updater(*h, "once");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.output, "bogus_field")) << r.output;
  r = RunCommand({BinaryPath("drover-updater"), "frobnicate", "--config=" + h->config});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.output, "\"frobnicate\"")) << r.output;
}

// Issue 14: the updater enrols with a join token (made with droverctl over
// TLS), reports over mTLS, renews nothing yet, is refused once revoked and
// enrols again with a new token.
TEST_F(UpdaterE2eTest, EnrolsWithAJoinTokenAndReportsOverMutualTls) {
  CreateChannel("1.0.0", /*window_now=*/true);
  const std::string ca = Tmp("drover-ca-") + "/ca";
  CommandResult init = RunCommand({BinaryPath("drover-coordinator"), "ca", "init", "--ca_dir=" + ca, "--fleet=e2e"});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> tls = CoordinatorProcess::Start(
      db_, {"--tls_cert_file=" + ca + "/server.pem", "--tls_key_file=" + ca + "/server.key",
            "--host_ca_cert_file=" + ca + "/ca.pem", "--host_ca_key_file=" + ca + "/ca.key", "--fleet=e2e"});
  ASSERT_TRUE(tls.ok()) << tls.status();
  // The operator API wants an admin token once the coordinator is not --insecure.
  CommandResult admin = RunCommand({BinaryPath("drover-coordinator"), "operators", "create", testing::DatabaseUrlFlag(db_),
                                    "--name=e2e-admin", "--role=admin", "--token_file=" + ca + "/admin.token"});
  ASSERT_EQ(admin.exit_code, 0) << admin.output;
  const std::string ctl = absl::StrCat(BinaryPath("droverctl"), " --coordinator=", (*tls)->grpc_address(),
                                       " --ca_file=", ca, "/ca.pem --token-file=", ca, "/admin.token ");
  auto host = NewHost("host-tls", "",
                      absl::StrCat("coordinator_ca_file: \"", ca, "/ca.pem\"\njoin_token_file: \"", ca, "/token\"\n"));
  // The updater talks to the TLS replica (same database).
  CommandResult moved = RunCommand({"sed", "-i", absl::StrCat("s|^coordinator: .*|coordinator: \"", (*tls)->grpc_address(), "\"|"),
                                    host->config});
  ASSERT_EQ(moved.exit_code, 0);
  auto new_token = [&] {
    CommandResult t = RunCommand({"bash", "-c", absl::StrCat("umask 077; ", ctl, "tokens create --channel=demo --ttl=10m > ",
                                                             ca, "/token")});
    ASSERT_EQ(t.exit_code, 0) << t.output;
    EXPECT_TRUE(absl::StrContains(t.output, "single use")) << t.output;
  };
  new_token();

  CommandResult r = Updater(*host, "once");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "enrolled as host \"host-tls\" in channel \"demo\"")) << r.output;
  EXPECT_EQ(host->Version(), "1.0.0");
  struct stat st;
  ASSERT_EQ(stat((host->state_dir + "/identity/host.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM agents WHERE host_id = 'host-tls'"), "1");
  EXPECT_EQ(Events("host-tls").size(), 1u);

  // The next pass uses the certificate it has; the used token is not offered again.
  r = Updater(*host, "once");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "enrol")) << r.output;

  CommandResult revoke = RunCommand({"bash", "-c", ctl + "agents revoke host-tls"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  EXPECT_TRUE(absl::StrContains(revoke.output, "revoked 1 certificate")) << revoke.output;
  const std::string seq = testing::QueryValue(db_, "SELECT sequence FROM agents WHERE host_id = 'host-tls'");
  r = Updater(*host, "once");
  EXPECT_TRUE(absl::StrContains(r.output, "revoked")) << r.output;
  EXPECT_EQ(testing::QueryValue(db_, "SELECT sequence FROM agents WHERE host_id = 'host-tls'"), seq);

  new_token();
  r = Updater(*host, "once");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "enrolled as host")) << r.output;
  // Its report is accepted; an unchanged one is a heartbeat, written to
  // PostgreSQL with the coordinator's next liveness flush.
  EXPECT_TRUE(testing::PollUntil(absl::Seconds(20), [&] {
    return testing::QueryValue(db_, "SELECT sequence FROM agents WHERE host_id = 'host-tls'") != seq;
  }));
}

}  // namespace
}  // namespace drover
