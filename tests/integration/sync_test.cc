// Sync end to end: the report and the target in one call, each half
// answered on its own, and the interval the coordinator sets, on the real
// gRPC server over a real PostgreSQL. (With TLS: tls_test.cc.)
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rpc_reason.h"
#include "coordinator/server.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::HttpGet;
using ::drover::testing::MetricValue;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::PollUntil;
using ::drover::testing::QueryValue;

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = NewTestDatabase(); }

  void Start(CoordinatorConfig config = {}) {
    config.database_url = db_;
    config.insecure = true;
    config.grpc_listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.fleet_refresh_interval = absl::Milliseconds(100);
    config.shutdown_grace = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(config);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    auto channel = grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
    ops_ = v1::OperatorService::NewStub(channel);
    updater_ = v1::UpdaterService::NewStub(channel);
  }

  void CreateChannel(const std::string& id, const std::string& target, absl::Duration poll = absl::Seconds(60)) {
    v1::CreateChannelRequest req;
    req.set_channel_id(id);
    req.set_control_plane_version("2.0.0");
    req.set_target_version(target);
    req.mutable_poll_interval()->set_seconds(absl::ToInt64Seconds(poll));
    v1::Channel out;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->CreateChannel(&ctx, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static v1::ReportStatusRequest Report(const std::string& host, const std::string& channel, int64_t seq,
                                        const std::string& version = "1.0.0") {
    v1::ReportStatusRequest r;
    r.set_host_id(host);
    r.set_channel("channels/" + channel);
    r.set_current_version(version);
    r.set_health(v1::HEALTH_HEALTHY);
    r.set_updater_version("0.1.0");
    r.set_sequence(seq);
    return r;
  }

  grpc::Status Sync(const v1::ReportStatusRequest& report, v1::SyncResponse* out) {
    v1::SyncRequest req;
    *req.mutable_report() = report;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return updater_->Sync(&ctx, req, out);
  }

  std::string StoredSequence(const std::string& host) {
    return QueryValue(db_, absl::StrCat("SELECT coalesce((SELECT sequence::text FROM agents WHERE host_id = '", host,
                                        "'), 'none')"));
  }

  double Metric(const std::string& series) {
    absl::StatusOr<std::string> body = HttpGet(server_->metrics_address(), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? MetricValue(*body, series) : -1;
  }

  std::string db_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::OperatorService::Stub> ops_;
  std::unique_ptr<v1::UpdaterService::Stub> updater_;
};

TEST_F(SyncTest, AnswersTheReportAndTheTargetInOneCall) {
  Start();
  CreateChannel("prod", "1.1.0");
  v1::SyncResponse out;
  grpc::Status s = Sync(Report("web-1", "prod", 100), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The report: answered once committed.
  EXPECT_EQ(out.report_error_code(), 0) << out.report_error();
  EXPECT_EQ(out.report().disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  EXPECT_EQ(out.report().stored_sequence(), 100);
  EXPECT_EQ(StoredSequence("web-1"), "100");
  // The target, as GetTarget answers it.
  EXPECT_EQ(out.target_error_code(), 0) << out.target_error();
  EXPECT_EQ(out.target().target_version(), "1.1.0");
  EXPECT_EQ(out.target().control_plane_version(), "2.0.0");
  EXPECT_EQ(out.target().poll_interval().seconds(), 60);
  v1::GetTargetRequest get;
  get.set_channel("channels/prod");
  get.set_host_id("web-1");
  v1::GetTargetResponse target;
  grpc::ClientContext ctx;
  ASSERT_TRUE(updater_->GetTarget(&ctx, get, &target).ok());
  EXPECT_EQ(out.target().target_version(), target.target_version());
  EXPECT_EQ(out.target().channel_generation(), target.channel_generation());
  // When to come back: a small fleet gets the channel's interval, jittered.
  const absl::Duration next = FromProto(out.next_sync());
  EXPECT_GE(next, absl::Seconds(54));
  EXPECT_LE(next, absl::Seconds(66));
  // The same report again: a duplicate, still with the target.
  s = Sync(Report("web-1", "prod", 100), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.report().disposition(), v1::ReportStatusResponse::DISPOSITION_DUPLICATE);
  EXPECT_EQ(out.target().target_version(), "1.1.0");
  // Counted as their own method; GetTarget and ReportStatus unchanged.
  EXPECT_EQ(Metric("drover_rpc_requests_total{code=\"OK\",method=\"Sync\"}"), 2);
  v1::ReportStatusResponse reported;
  grpc::ClientContext rctx;
  ASSERT_TRUE(updater_->ReportStatus(&rctx, Report("web-1", "prod", 101), &reported).ok());
  EXPECT_EQ(reported.disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
}

TEST_F(SyncTest, AReportRefusedForItsContentStillGetsTheTarget) {
  Start();
  CreateChannel("prod", "1.1.0");
  v1::SyncResponse out;
  v1::ReportStatusRequest bad = Report("web-1", "prod", 5, "one.two");
  grpc::Status s = Sync(bad, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.report_error_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_TRUE(absl::StrContains(out.report_error(), "current_version")) << out.report_error();
  EXPECT_TRUE(absl::StrContains(out.report_error(), "one.two")) << out.report_error();
  EXPECT_FALSE(out.has_report());
  EXPECT_EQ(out.target().target_version(), "1.1.0");
  EXPECT_TRUE(out.has_next_sync());
  EXPECT_EQ(StoredSequence("web-1"), "none");
  EXPECT_EQ(Metric("drover_reports_total{result=\"invalid\"}"), 1);
  // A bad host id spoils both halves (the target is asked for that host),
  // each saying which field.
  bad = Report("web 1", "prod", 5);
  s = Sync(bad, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.target_error_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_TRUE(absl::StrContains(out.target_error(), "report.host_id")) << out.target_error();
  EXPECT_EQ(out.report_error_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_TRUE(absl::StrContains(out.report_error(), "host_id")) << out.report_error();
  EXPECT_FALSE(out.has_next_sync());
}

// An unknown channel: neither half can be answered, and each says so as
// GetTarget and ReportStatus would (NOT_FOUND); the call itself succeeds.
TEST_F(SyncTest, AnUnknownChannelIsNotFoundForBothHalves) {
  Start();
  CreateChannel("prod", "1.1.0");
  v1::SyncResponse out;
  grpc::Status s = Sync(Report("web-1", "nope", 5), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.target_error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_TRUE(absl::StrContains(out.target_error(), "\"nope\"")) << out.target_error();
  EXPECT_FALSE(out.has_target());
  EXPECT_EQ(out.report_error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND)) << out.report_error();
  EXPECT_TRUE(absl::StrContains(out.report_error(), "nope")) << out.report_error();
  EXPECT_EQ(StoredSequence("web-1"), "none");
}

TEST_F(SyncTest, AnUnreadableRequestFailsTheCall) {
  Start();
  CreateChannel("prod", "1.1.0");
  v1::SyncResponse out;
  v1::ReportStatusRequest huge = Report("web-1", "prod", 5);
  huge.set_metadata_problem(std::string(100 * 1024, 'x'));
  grpc::Status s = Sync(huge, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "--max_message_bytes")) << s.error_message();
  EXPECT_EQ(Metric("drover_rpc_requests_total{code=\"RESOURCE_EXHAUSTED\",method=\"Sync\"}"), 1);
}

TEST_F(SyncTest, EachHalfKeepsItsOwnRateLimit) {
  CoordinatorConfig config;
  config.report_rate_per_host = {0.001, 1};  // one report per host, then refused
  Start(config);
  CreateChannel("prod", "1.1.0");
  v1::SyncResponse out;
  ASSERT_TRUE(Sync(Report("web-1", "prod", 5), &out).ok());
  EXPECT_EQ(out.report().disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  ASSERT_TRUE(Sync(Report("web-1", "prod", 6), &out).ok());
  EXPECT_EQ(out.report_error_code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(out.report_error_reason(), std::string(kReasonRateLimited));
  EXPECT_EQ(out.target().target_version(), "1.1.0");
  EXPECT_EQ(StoredSequence("web-1"), "5");
  EXPECT_EQ(Metric("drover_requests_refused_total{reason=\"report_rate\"}"), 1);
}

TEST_F(SyncTest, TheTargetLimitPerPeerAppliesToo) {
  CoordinatorConfig config;
  config.get_target_rate_per_peer = {0.001, 1};
  Start(config);
  CreateChannel("prod", "1.1.0");
  v1::SyncResponse out;
  ASSERT_TRUE(Sync(Report("web-1", "prod", 5), &out).ok());
  EXPECT_EQ(out.target().target_version(), "1.1.0");
  ASSERT_TRUE(Sync(Report("web-2", "prod", 5), &out).ok());
  EXPECT_EQ(out.target_error_code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(out.target_error_reason(), std::string(kReasonRateLimited));
  // The report went through all the same.
  EXPECT_EQ(out.report().disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  EXPECT_EQ(StoredSequence("web-2"), "5");
}

// A 1 s channel and a replica that takes 5 polls per second: as hosts
// arrive, the answers tell them to come back much later than 1 s.
TEST_F(SyncTest, ALargeFleetOnAOneSecondChannelIsToldToComeBackLater) {
  CoordinatorConfig config;
  config.sync_target_rate = 5;
  Start(config);
  CreateChannel("fast", "1.1.0", absl::Seconds(1));
  v1::SyncResponse out;
  absl::Duration first = absl::ZeroDuration(), last = absl::ZeroDuration();
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(Sync(Report(absl::StrCat("host-", i), "fast", 1), &out).ok());
    ASSERT_EQ(out.report_error_code(), 0) << out.report_error();
    if (i == 0) first = FromProto(out.next_sync());
    last = FromProto(out.next_sync());
  }
  EXPECT_LE(first, absl::Milliseconds(1100));
  EXPECT_GE(first, absl::Milliseconds(900));
  // 200 hosts in a few seconds, each told about 1 s at first: the estimate
  // (polls/s x interval told) grows with every answer.
  EXPECT_GT(last, absl::Seconds(10)) << last;
  EXPECT_LE(last, absl::Hours(24));
}

// PostgreSQL down: the report cannot be stored and says so (the updater
// keeps it in its outbox), the target comes from the channel cache.
TEST(SyncDatabaseTest, WithTheDatabaseDownTheTargetComesFromTheCache) {
  absl::StatusOr<std::unique_ptr<testing::TestPostgres>> pg = testing::TestPostgres::StartPrivate();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->CreateDatabase("drover").ok());
  CoordinatorConfig config;
  config.database_url = (*pg)->Url("drover");
  config.insecure = true;
  config.grpc_listen = "127.0.0.1:0";
  config.metrics_listen = "127.0.0.1:0";
  config.shutdown_grace = absl::Seconds(5);
  config.channel_cache_ttl = absl::Minutes(10);
  config.statement_timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> server = CoordinatorServer::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials());
  auto ops = v1::OperatorService::NewStub(channel);
  auto updater = v1::UpdaterService::NewStub(channel);
  {
    v1::CreateChannelRequest req;
    req.set_channel_id("prod");
    req.set_control_plane_version("2.0.0");
    req.set_target_version("1.1.0");
    req.mutable_poll_interval()->set_seconds(60);
    v1::Channel out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops->CreateChannel(&ctx, req, &out).ok());
  }
  auto sync = [&](int64_t seq, v1::SyncResponse* out) {
    v1::SyncRequest req;
    v1::ReportStatusRequest& r = *req.mutable_report();
    r.set_host_id("web-1");
    r.set_channel("channels/prod");
    r.set_current_version("1.0.0");
    r.set_health(v1::HEALTH_HEALTHY);
    r.set_updater_version("0.1.0");
    r.set_sequence(seq);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return updater->Sync(&ctx, req, out);
  };
  v1::SyncResponse out;
  ASSERT_TRUE(sync(1, &out).ok());  // warms the cache
  ASSERT_EQ(out.report().disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);

  ASSERT_TRUE((*pg)->Stop("fast").ok());
  grpc::Status s = sync(2, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.report_error_code(), static_cast<int>(grpc::StatusCode::UNAVAILABLE)) << out.report_error();
  EXPECT_EQ(out.report_error_reason(), std::string(kReasonDatabaseUnavailable)) << out.report_error();
  EXPECT_FALSE(absl::StrContains(out.report_error(), "pq")) << "no database text leaks: " << out.report_error();
  EXPECT_EQ(out.target_error_code(), 0) << out.target_error();
  EXPECT_EQ(out.target().target_version(), "1.1.0");
  EXPECT_TRUE(out.has_next_sync());

  // Back: the same report is stored.
  ASSERT_TRUE((*pg)->Start().ok());
  EXPECT_TRUE(PollUntil(absl::Seconds(60), [&] {
    return sync(2, &out).ok() && out.report_error_code() == 0 &&
           out.report().disposition() == v1::ReportStatusResponse::DISPOSITION_ACCEPTED;
  })) << out.report_error();
  (*server)->Shutdown();
}

}  // namespace
}  // namespace drover
