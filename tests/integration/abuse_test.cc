// Abuse resistance end to end: forged report sequences, forgetting a host,
// rate limits, caps on channels and version labels, and how the coordinator
// takes its database URL. The real gRPC server over a real PostgreSQL.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rpc_reason.h"
#include "coordinator/rollout/report_apply.h"
#include "coordinator/server.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::BinaryPath;
using ::drover::testing::FleetCounterMismatches;
using ::drover::testing::HttpGet;
using ::drover::testing::MetricValue;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::PollUntil;
using ::drover::testing::QueryValue;
using ::drover::testing::RunCommand;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

class AbuseTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = NewTestDatabase(); }

  void Start(const std::function<void(CoordinatorConfig&)>& tune = nullptr) {
    CoordinatorConfig config;
    config.insecure = true;  // plaintext: the limits, not the transport, are under test
    config.database_url = db_;
    config.grpc_listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.fleet_refresh_interval = absl::Milliseconds(100);
    config.shutdown_grace = absl::Seconds(5);
    if (tune) tune(config);
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(config);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    auto channel = grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
    ops_ = v1::OperatorService::NewStub(channel);
    updater_ = v1::UpdaterService::NewStub(channel);
  }

  grpc::Status CreateChannel(const std::string& id, const std::string& version = "1.0.0") {
    v1::CreateChannelRequest req;
    req.set_channel_id(id);
    req.set_control_plane_version(version);
    req.set_target_version(version);
    v1::Channel out;
    grpc::ClientContext ctx;
    return ops_->CreateChannel(&ctx, req, &out);
  }

  static v1::ReportStatusRequest Report(const std::string& host, int64_t seq, const std::string& version = "1.0.0") {
    v1::ReportStatusRequest r;
    r.set_host_id(host);
    r.set_channel("channels/prod");
    r.set_current_version(version);
    r.set_health(v1::HEALTH_HEALTHY);
    r.set_updater_version("0.1.0");
    r.set_sequence(seq);
    return r;
  }

  // The answer, and the drover-reason trailer ("" when none).
  grpc::Status Send(const v1::ReportStatusRequest& r, v1::ReportStatusResponse* out, std::string* reason = nullptr) {
    grpc::ClientContext ctx;
    grpc::Status s = updater_->ReportStatus(&ctx, r, out);
    if (reason != nullptr) {
      auto it = ctx.GetServerTrailingMetadata().find(std::string(kReasonKey));
      *reason = it == ctx.GetServerTrailingMetadata().end() ? "" : std::string(it->second.data(), it->second.size());
    }
    return s;
  }

  v1::ReportStatusResponse::Disposition Disposition(const v1::ReportStatusRequest& r, int64_t* stored = nullptr) {
    v1::ReportStatusResponse out;
    grpc::Status s = Send(r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (stored != nullptr) *stored = out.stored_sequence();
    return out.disposition();
  }

  grpc::Status Forget(const std::string& host, v1::ForgetAgentResponse* out) {
    v1::ForgetAgentRequest req;
    req.set_host_id(host);
    grpc::ClientContext ctx;
    return ops_->ForgetAgent(&ctx, req, out);
  }

  std::string Metrics() {
    absl::StatusOr<std::string> body = HttpGet(server_->metrics_address(), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return body.value_or("");
  }

  static int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

  std::string db_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::OperatorService::Stub> ops_;
  std::unique_ptr<v1::UpdaterService::Stub> updater_;
};

// The attack of issue 14: a forged ReportStatus for another host with
// sequence INT64_MAX was accepted, and the real host was OUT_OF_ORDER for good.
TEST_F(AbuseTest, AForgedInt64MaxSequenceIsRefusedAndTheRealHostKeepsReporting) {
  Start();
  ASSERT_TRUE(CreateChannel("prod").ok());
  const int64_t first = NowMicros();
  ASSERT_EQ(Disposition(Report("web-1", first)), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);

  int64_t stored = 0;
  EXPECT_EQ(Disposition(Report("web-1", kInt64Max, "0.0.1"), &stored),
            v1::ReportStatusResponse::DISPOSITION_SEQUENCE_TOO_FAR_AHEAD);
  EXPECT_EQ(stored, first) << "the refusal tells the stored sequence";
  EXPECT_EQ(QueryValue(db_, "SELECT sequence || ' ' || current_version FROM agents WHERE host_id = 'web-1'"),
            absl::StrCat(first, " 1.0.0"))
      << "nothing of the forged report is stored";

  // The real host goes on as before.
  EXPECT_EQ(Disposition(Report("web-1", first + 1)), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  EXPECT_EQ(Disposition(Report("web-1", NowMicros() + 1000)), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);

  // A first report is held to the coordinator's clock: INT64_MAX cannot
  // claim a host nobody has seen yet either; a day ahead can.
  EXPECT_EQ(Disposition(Report("ghost", kInt64Max), &stored),
            v1::ReportStatusResponse::DISPOSITION_SEQUENCE_TOO_FAR_AHEAD);
  EXPECT_EQ(stored, 0);
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM agents WHERE host_id = 'ghost'"), "0");
  const int64_t lead = absl::ToInt64Microseconds(rollout::kMaxSequenceLead);
  EXPECT_EQ(Disposition(Report("ghost", NowMicros() + lead + absl::ToInt64Microseconds(absl::Minutes(10)))),
            v1::ReportStatusResponse::DISPOSITION_SEQUENCE_TOO_FAR_AHEAD);
  EXPECT_EQ(Disposition(Report("ghost", NowMicros() + lead - absl::ToInt64Microseconds(absl::Minutes(10)))),
            v1::ReportStatusResponse::DISPOSITION_ACCEPTED);

  const std::string body = Metrics();
  EXPECT_EQ(MetricValue(body, "drover_reports_total{result=\"sequence_too_far_ahead\"}"), 3) << body;
  EXPECT_EQ(FleetCounterMismatches(db_), 0);
}

// A database that already holds a forged sequence (stored before the bound
// existed): the operator forgets the host and it starts afresh.
TEST_F(AbuseTest, ForgettingAHostLetsItStartAfreshAndKeepsItsHistoryAndCounters) {
  Start();
  ASSERT_TRUE(CreateChannel("prod").ok());
  v1::ReportStatusRequest r = Report("web-1", NowMicros());
  v1::UpdateOutcome* o = r.add_outcomes();
  o->set_from_version("0.9.0");
  o->set_to_version("1.0.0");
  o->set_result(v1::UPDATE_RESULT_SUCCEEDED);
  o->mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 30);
  o->mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 10);
  ASSERT_EQ(Disposition(r), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  ASSERT_EQ(Disposition(Report("web-2", NowMicros())), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  QueryValue(db_, absl::StrCat("UPDATE agents SET sequence = ", kInt64Max, " WHERE host_id = 'web-1' RETURNING 1"));
  int64_t stored = 0;
  ASSERT_EQ(Disposition(Report("web-1", NowMicros()), &stored), v1::ReportStatusResponse::DISPOSITION_OUT_OF_ORDER);
  ASSERT_EQ(stored, kInt64Max) << "locked out, as in the issue";

  v1::ForgetAgentResponse forgotten;
  grpc::Status s = Forget("web-1", &forgotten);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(forgotten.channel(), "channels/prod");
  EXPECT_EQ(forgotten.forgotten_sequence(), kInt64Max);
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM agents WHERE host_id = 'web-1'"), "0");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM update_events WHERE host_id = 'web-1'"), "1") << "history kept";
  EXPECT_EQ(FleetCounterMismatches(db_), 0) << "the counters lost what the host added";
  EXPECT_EQ(QueryValue(db_, "SELECT field || ' ' || old_value FROM channel_changes WHERE field = 'agent_forgotten'"),
            absl::StrCat("agent_forgotten web-1 sequence=", kInt64Max));
  {
    v1::GetRolloutStatusRequest req;
    req.set_name("channels/prod");
    v1::RolloutStatus status;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->GetRolloutStatus(&ctx, req, &status).ok());
    EXPECT_EQ(status.total_agents(), 1) << "only web-2 is left";
  }

  EXPECT_EQ(Disposition(Report("web-1", NowMicros())), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  EXPECT_EQ(FleetCounterMismatches(db_), 0);

  // Nothing stored: NOT_FOUND naming the host; a bad id: INVALID_ARGUMENT.
  s = Forget("nobody", &forgotten);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "\"nobody\"")) << s.error_message();
  s = Forget("", &forgotten);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

TEST_F(AbuseTest, AHostOfAMissingChannelIsForgottenToo) {
  Start();
  v1::ReportStatusRequest r = Report("lost-1", NowMicros());
  r.set_channel("channels/gone");
  v1::ReportStatusResponse out;
  ASSERT_EQ(Send(r, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_EQ(QueryValue(db_, "SELECT count(*) FROM orphan_hosts"), "1");
  v1::ForgetAgentResponse forgotten;
  ASSERT_TRUE(Forget("lost-1", &forgotten).ok());
  EXPECT_EQ(forgotten.channel(), "");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM orphan_hosts"), "0");
}

TEST_F(AbuseTest, ReportsAreRateLimitedPerHostAndTheRefusalSaysRetryLater) {
  Start([](CoordinatorConfig& c) { c.report_rate_per_host = {.per_second = 0.001, .burst = 3}; });
  ASSERT_TRUE(CreateChannel("prod").ok());
  const int64_t seq = NowMicros();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Disposition(Report("noisy", seq + i)), v1::ReportStatusResponse::DISPOSITION_ACCEPTED) << i;
  }
  v1::ReportStatusResponse out;
  std::string reason;
  grpc::Status s = Send(Report("noisy", seq + 3), &out, &reason);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "host \"noisy\"")) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "retry later")) << s.error_message();
  EXPECT_EQ(reason, kReasonRateLimited) << "updaters keep such a report instead of setting it aside";
  EXPECT_EQ(QueryValue(db_, "SELECT sequence FROM agents WHERE host_id = 'noisy'"), absl::StrCat(seq + 2));
  // Another host has its own bucket.
  EXPECT_EQ(Disposition(Report("quiet", seq)), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  const std::string body = Metrics();
  EXPECT_EQ(MetricValue(body, "drover_reports_total{result=\"rate_limited\"}"), 1) << body;
  EXPECT_EQ(MetricValue(body, "drover_requests_refused_total{reason=\"report_rate\"}"), 1) << body;
}

TEST_F(AbuseTest, TargetsAreRateLimitedPerPeerAddress) {
  Start([](CoordinatorConfig& c) { c.get_target_rate_per_peer = {.per_second = 0.001, .burst = 2}; });
  ASSERT_TRUE(CreateChannel("prod").ok());
  auto get = [&] {
    v1::GetTargetRequest req;
    req.set_channel("channels/prod");
    v1::GetTargetResponse out;
    grpc::ClientContext ctx;
    return updater_->GetTarget(&ctx, req, &out);
  };
  EXPECT_TRUE(get().ok());
  // A new connection from the same address shares the bucket (updaters open
  // one per poll).
  updater_ = v1::UpdaterService::NewStub(
      grpc::CreateCustomChannel(server_->grpc_address(), grpc::InsecureChannelCredentials(), [] {
        grpc::ChannelArguments args;
        args.SetInt("drover.test.fresh", 1);  // not shared with the first channel
        return args;
      }()));
  EXPECT_TRUE(get().ok());
  grpc::Status s = get();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "GetTarget from ipv4:127.0.0.1 refused")) << s.error_message();
  EXPECT_EQ(MetricValue(Metrics(), "drover_requests_refused_total{reason=\"get_target_rate\"}"), 1);
}

TEST_F(AbuseTest, ChannelsAreCappedAndTheRefusalWritesNothing) {
  Start([](CoordinatorConfig& c) { c.max_channels = 2; });
  ASSERT_TRUE(CreateChannel("one").ok());
  ASSERT_TRUE(CreateChannel("two").ok());
  grpc::Status s = CreateChannel("three");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "\"three\"")) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "--max_channels=2")) << s.error_message();
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM channels"), "2");
  EXPECT_EQ(MetricValue(Metrics(), "drover_requests_refused_total{reason=\"max_channels\"}"), 1);
  v1::DeleteChannelRequest del;
  del.set_name("channels/two");
  v1::DeleteChannelResponse deleted;
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->DeleteChannel(&ctx, del, &deleted).ok());
  EXPECT_TRUE(CreateChannel("three").ok()) << "room again once one is gone";
}

TEST_F(AbuseTest, VersionLabelsBeyondTheCapAreFoldedIntoOther) {
  Start([](CoordinatorConfig& c) { c.max_version_labels = 2; });
  ASSERT_TRUE(CreateChannel("prod", "2.0.0").ok());
  const int64_t seq = NowMicros();
  ASSERT_EQ(Disposition(Report("a", seq, "1.9.0")), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  ASSERT_EQ(Disposition(Report("b", seq, "1.9.0")), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  ASSERT_EQ(Disposition(Report("c", seq, "1.5.0-made-up-1")), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  ASSERT_EQ(Disposition(Report("d", seq, "1.5.0-made-up-2")), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  std::string body;
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    body = Metrics();
    return MetricValue(body, "drover_metric_versions_folded") == 2;
  })) << body;
  // The target (2.0.0, run by nobody) and the most run version keep labels.
  EXPECT_EQ(MetricValue(body, "drover_agents{channel=\"prod\",health=\"healthy\",version=\"1.9.0\"}"), 2) << body;
  EXPECT_EQ(MetricValue(body, "drover_agents{channel=\"prod\",health=\"healthy\",version=\"other\"}"), 2) << body;
  EXPECT_FALSE(absl::StrContains(body, "made-up")) << body;
}

// --- The database URL -------------------------------------------------------

class DatabaseUrlFlagsTest : public ::testing::Test {
 protected:
  static std::string Dir() {
    char tmpl[] = "/tmp/drover-dburl-XXXXXX";
    return mkdtemp(tmpl);
  }
};

TEST_F(DatabaseUrlFlagsTest, APasswordOnTheCommandLineIsRefusedWithoutEchoingIt) {
  testing::CommandResult r = RunCommand(
      {BinaryPath("drover-coordinator"), "migrate", "--database=postgresql://drover:hunter2@127.0.0.1:1/drover"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "--database holds a password")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "--database_url_file")) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "hunter2")) << r.output;
}

TEST_F(DatabaseUrlFlagsTest, TheUrlComesFromAFile) {
  const std::string dir = Dir();
  const std::string file = dir + "/db.url";
  {
    std::ofstream out(file);
    out << NewTestDatabase() << "\n";
  }
  chmod(file.c_str(), 0600);
  testing::CommandResult r =
      RunCommand({BinaryPath("drover-coordinator"), "migrate", "--database_url_file=" + file});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "readable by other users")) << r.output;
  chmod(file.c_str(), 0644);
  r = RunCommand({BinaryPath("drover-coordinator"), "migrate", "--database_url_file=" + file});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "readable by other users")) << r.output;

  r = RunCommand({BinaryPath("drover-coordinator"), "migrate", "--database_url_file=" + dir + "/missing"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.output, "/missing: cannot read")) << r.output;
  r = RunCommand({BinaryPath("drover-coordinator"), "migrate", "--database_url_file=" + file, "--database=x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.output, "not both")) << r.output;
  std::filesystem::remove_all(dir);
}

TEST_F(DatabaseUrlFlagsTest, ARemoteDatabaseNeedsVerifyFullOrAnExplicitOverride) {
  const std::string remote = "--database=postgresql://drover@db.invalid:5432/drover?sslmode=require";
  testing::CommandResult r =
      RunCommand({BinaryPath("drover-coordinator"), "migrate", remote, "--startup_timeout=0s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.output, "db.invalid is not local, and sslmode is require")) << r.output;
  // The override goes on (to fail connecting to a name that does not exist), with a warning.
  r = RunCommand({BinaryPath("drover-coordinator"), "migrate", remote, "--allow_unverified_database",
                  "--startup_timeout=0s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.output, "--allow_unverified_database: the database at db.invalid")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "migrate:")) << r.output;
}

}  // namespace
}  // namespace drover
