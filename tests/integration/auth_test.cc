// Operator identities, roles and the audit trail (issue 14), against a real
// PostgreSQL: the coordinator in-process (gRPC with bearer tokens) and as a
// real process driven by droverctl.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "coordinator/ca_command.h"
#include "coordinator/server.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::BinaryPath;
using ::drover::testing::CommandResult;
using ::drover::testing::CoordinatorProcess;
using ::drover::testing::HttpGet;
using ::drover::testing::MetricValue;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::PollUntil;
using ::drover::testing::QueryValue;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = NewTestDatabase();
    absl::StatusOr<std::string> admin = CreateOperatorDirectly(db_, absl::Seconds(60), "root", "admin", {});
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *admin;
    // Not --insecure, so real TLS: a CA and server certificate made here.
    char tmpl[] = "/tmp/drover-auth-tls-XXXXXX";
    tls_dir_ = mkdtemp(tmpl);
    absl::StatusOr<std::string> ca = InitCa({.dir = tls_dir_, .fleet = "auth.test"}, absl::Now());
    ASSERT_TRUE(ca.ok()) << ca.status();
    CoordinatorConfig config;
    config.database_url = db_;
    config.grpc_listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.shutdown_grace = absl::Seconds(5);
    config.tls_cert_file = tls_dir_ + "/server.pem";
    config.tls_key_file = tls_dir_ + "/server.key";
    config.host_ca_cert_file = tls_dir_ + "/ca.pem";
    config.host_ca_key_file = tls_dir_ + "/ca.key";
    config.fleet = "auth.test";
    config.refused_audit_rate_per_peer = refused_audit_limit_;
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(config);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    std::ifstream in(tls_dir_ + "/ca.pem");
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    ops_ = v1::OperatorService::NewStub(grpc::CreateChannel(server_->grpc_address(), grpc::SslCredentials(ssl)));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  // Calls `method` with `token` ("" for none).
  template <typename Req, typename Resp>
  grpc::Status Call(const std::string& token,
                    grpc::Status (v1::OperatorService::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    return (ops_.get()->*method)(&ctx, req, out);
  }

  std::string NewOperator(const std::string& name, v1::OperatorRole role, int64_t ttl_seconds = 0) {
    v1::CreateOperatorRequest req;
    req.set_name(name);
    req.set_role(role);
    req.set_ttl_seconds(ttl_seconds);
    v1::CreateOperatorResponse resp;
    grpc::Status s = Call(admin_, &v1::OperatorService::Stub::CreateOperator, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(absl::StartsWith(resp.token(), "drover_op_")) << resp.token();
    return resp.token();
  }

  void CreateChannel(const std::string& id) {
    v1::CreateChannelRequest req;
    req.set_channel_id(id);
    req.set_control_plane_version("2.0.0");
    req.set_target_version("1.0.0");
    v1::Channel out;
    grpc::Status s = Call(admin_, &v1::OperatorService::Stub::CreateChannel, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  grpc::Status SetTarget(const std::string& token, const std::string& id, const std::string& version) {
    v1::SetTargetVersionRequest req;
    req.set_name("channels/" + id);
    req.set_version(version);
    v1::Channel out;
    return Call(token, &v1::OperatorService::Stub::SetTargetVersion, req, &out);
  }

  std::string Target(const std::string& id) {
    return QueryValue(db_, absl::StrCat("SELECT coalesce(target_version, 'none') FROM channels WHERE name = '", id, "'"));
  }

  std::vector<v1::AuditEvent> Audit(v1::ListAuditEventsRequest req) {
    v1::ListAuditEventsResponse resp;
    grpc::Status s = Call(admin_, &v1::OperatorService::Stub::ListAuditEvents, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.events().begin(), resp.events().end()};
  }

  // What a peer's refusals may write to the audit trail (set before SetUp).
  RateLimit refused_audit_limit_{1, 100};
  std::string db_;
  std::string tls_dir_;
  std::string admin_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::OperatorService::Stub> ops_;
};

TEST_F(AuthTest, AViewerCannotSetATargetAndTheRefusalIsAudited) {
  CreateChannel("prod");
  const std::string viewer = NewOperator("vera", v1::OPERATOR_ROLE_VIEWER);
  const absl::Time before = absl::Now() - absl::Seconds(5);
  grpc::Status s = SetTarget(viewer, "prod", "1.1.0");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "needs the operator role")) << s.error_message();
  EXPECT_EQ(Target("prod"), "1.0.0");
  // Reading is allowed.
  v1::Channel ch;
  v1::GetChannelRequest get;
  get.set_name("channels/prod");
  EXPECT_TRUE(Call(viewer, &v1::OperatorService::Stub::GetChannel, get, &ch).ok());

  v1::ListAuditEventsRequest q;
  q.set_actor("vera");
  std::vector<v1::AuditEvent> events = Audit(q);
  ASSERT_EQ(events.size(), 1u);
  const v1::AuditEvent& e = events[0];
  EXPECT_EQ(e.result(), v1::AUDIT_RESULT_REFUSED);
  EXPECT_EQ(e.method(), "drover.v1.OperatorService.SetTargetVersion");
  EXPECT_EQ(e.object(), "channels/prod");
  EXPECT_TRUE(absl::StartsWith(e.peer(), "ipv4:127.0.0.1:")) << e.peer();
  EXPECT_TRUE(absl::StrContains(e.reason(), "PERMISSION_DENIED")) << e.reason();
  EXPECT_TRUE(absl::StrContains(e.new_value(), "1.1.0")) << e.new_value();
  EXPECT_GE(absl::FromUnixSeconds(e.time().seconds()), before);
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM channel_changes WHERE field = 'target_version'"), "0");
}

TEST_F(AuthTest, AnOperatorSteersButCannotDeleteAChannelAndAnAdminCan) {
  CreateChannel("prod");
  const std::string op = NewOperator("otto", v1::OPERATOR_ROLE_OPERATOR);
  ASSERT_TRUE(SetTarget(op, "prod", "1.1.0").ok());
  EXPECT_EQ(Target("prod"), "1.1.0");

  v1::DeleteChannelRequest del;
  del.set_name("channels/prod");
  v1::DeleteChannelResponse out;
  grpc::Status denied = Call(op, &v1::OperatorService::Stub::DeleteChannel, del, &out);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(denied.error_message(), "needs the admin role")) << denied.error_message();
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM channels WHERE name = 'prod'"), "1");
  // Nor issue tokens.
  v1::CreateOperatorRequest mint;
  mint.set_name("evil");
  mint.set_role(v1::OPERATOR_ROLE_ADMIN);
  v1::CreateOperatorResponse minted;
  EXPECT_EQ(Call(op, &v1::OperatorService::Stub::CreateOperator, mint, &minted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  ASSERT_TRUE(Call(admin_, &v1::OperatorService::Stub::DeleteChannel, del, &out).ok());
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM channels WHERE name = 'prod'"), "0");

  // The history names the actor; the audit trail has old and new values.
  EXPECT_EQ(QueryValue(db_, "SELECT actor FROM channel_changes WHERE field = 'target_version'"), "otto");
  v1::ListAuditEventsRequest q;
  q.set_object("channels/prod");
  q.set_result(v1::AUDIT_RESULT_OK);
  std::vector<v1::AuditEvent> ok = Audit(q);
  ASSERT_EQ(ok.size(), 3u);  // newest first: delete, set target, create
  EXPECT_EQ(ok[0].actor(), "root");
  EXPECT_EQ(ok[0].method(), "drover.v1.OperatorService.DeleteChannel");
  EXPECT_TRUE(absl::StrContains(ok[0].old_value(), "target=1.1.0")) << ok[0].old_value();
  EXPECT_TRUE(absl::StrContains(ok[0].new_value(), "deleted")) << ok[0].new_value();
  EXPECT_EQ(ok[1].actor(), "otto");
  EXPECT_EQ(ok[1].old_value(), "target_version=1.0.0");
  EXPECT_EQ(ok[1].new_value(), "target_version=1.1.0");
  EXPECT_EQ(ok[2].method(), "drover.v1.OperatorService.CreateChannel");
  q.set_result(v1::AUDIT_RESULT_REFUSED);
  std::vector<v1::AuditEvent> refused = Audit(q);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].actor(), "otto");
  EXPECT_EQ(refused[0].method(), "drover.v1.OperatorService.DeleteChannel");
}

TEST_F(AuthTest, NoUnknownRevokedOrExpiredTokenIsRefused) {
  CreateChannel("prod");
  v1::ListChannelsRequest list;
  v1::ListChannelsResponse channels;
  grpc::Status none = Call("", &v1::OperatorService::Stub::ListChannels, list, &channels);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  EXPECT_EQ(Call("drover_op_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &v1::OperatorService::Stub::ListChannels,
                 list, &channels)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // A mutation without a token is refused, recorded, and changes nothing.
  EXPECT_EQ(SetTarget("", "prod", "1.1.0").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Target("prod"), "1.0.0");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM audit_events WHERE actor = '' AND result = 'refused' "
                            "AND method LIKE '%SetTargetVersion' AND reason LIKE 'UNAUTHENTICATED%'"),
            "1");

  const std::string temp = NewOperator("temp", v1::OPERATOR_ROLE_OPERATOR);
  ASSERT_TRUE(SetTarget(temp, "prod", "1.1.0").ok());
  v1::RevokeOperatorRequest revoke;
  revoke.set_name("temp");
  v1::Operator revoked;
  ASSERT_TRUE(Call(admin_, &v1::OperatorService::Stub::RevokeOperator, revoke, &revoked).ok());
  EXPECT_TRUE(revoked.has_revoke_time());
  grpc::Status after = SetTarget(temp, "prod", "1.2.0");
  EXPECT_EQ(after.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(after.error_message(), "revoked")) << after.error_message();
  EXPECT_EQ(Target("prod"), "1.1.0");
  // Revoking twice is NOT_FOUND; the name can be issued again.
  EXPECT_EQ(Call(admin_, &v1::OperatorService::Stub::RevokeOperator, revoke, &revoked).error_code(),
            grpc::StatusCode::NOT_FOUND);

  const std::string brief = NewOperator("brief", v1::OPERATOR_ROLE_VIEWER, /*ttl_seconds=*/1);
  grpc::Status expired;
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    expired = Call(brief, &v1::OperatorService::Stub::ListChannels, list, &channels);
    return !expired.ok();
  }));
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(expired.error_message(), "expired")) << expired.error_message();
  // Only hashes are stored.
  EXPECT_EQ(QueryValue(db_, absl::StrCat("SELECT count(*) FROM operator_tokens WHERE encode(token_sha256, 'escape') "
                                         "LIKE '%", temp.substr(10, 20), "%'")),
            "0");
}

// Refusals write audit rows only up to the per-peer limit: a caller without
// credentials cannot fill the database with them. Past it the calls are
// still refused, and counted.
class AuthAuditFloodTest : public AuthTest {
 protected:
  AuthAuditFloodTest() { refused_audit_limit_ = {0.001, 3}; }
};

TEST_F(AuthAuditFloodTest, RefusalsPastThePeerLimitAreCountedNotWritten) {
  CreateChannel("prod");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(SetTarget("", "prod", "1.1.0").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(Target("prod"), "1.0.0");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM audit_events WHERE result = 'refused'"), "3");
  absl::StatusOr<std::string> metrics = HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(MetricValue(*metrics, "drover_audit_refusals_dropped_total"), 7);
  // Accepted changes are not limited: their rows commit with them.
  ASSERT_TRUE(SetTarget(admin_, "prod", "1.1.0").ok());
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM audit_events WHERE result = 'ok' AND method LIKE '%SetTargetVersion'"),
            "1");
}

// The audit row commits with the change or not at all.
TEST_F(AuthTest, AChangeThatFailsLeavesNoOkRowAndAnAuditFailureUndoesTheChange) {
  CreateChannel("prod");
  const std::string op = NewOperator("otto", v1::OPERATOR_ROLE_OPERATOR);
  // Refused by the version rules: a refused row, no ok row, nothing changed.
  EXPECT_EQ(SetTarget(op, "prod", "3.0.0").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(result, ',') FROM audit_events WHERE actor = 'otto'"), "refused");
  EXPECT_EQ(Target("prod"), "1.0.0");

  // The audit insert itself fails: the change it records is rolled back.
  QueryValue(db_, "ALTER TABLE audit_events ADD CONSTRAINT no_otto CHECK (actor <> 'otto') NOT VALID");
  grpc::Status s = SetTarget(op, "prod", "1.1.0");
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(absl::StrContains(s.error_message(), "no_otto")) << "database text leaked: " << s.error_message();
  EXPECT_EQ(Target("prod"), "1.0.0");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM channel_changes WHERE field = 'target_version'"), "0");
}

TEST_F(AuthTest, AuditListingsFilterAndPage) {
  CreateChannel("a");
  CreateChannel("b");
  const std::string op = NewOperator("otto", v1::OPERATOR_ROLE_OPERATOR);
  for (const char* v : {"1.1.0", "1.2.0", "1.3.0"}) ASSERT_TRUE(SetTarget(op, "a", v).ok());
  ASSERT_TRUE(SetTarget(op, "b", "1.1.0").ok());
  v1::ListAuditEventsRequest q;
  q.set_method("SetTargetVersion");
  q.set_page_size(2);
  v1::ListAuditEventsResponse page;
  ASSERT_TRUE(Call(admin_, &v1::OperatorService::Stub::ListAuditEvents, q, &page).ok());
  ASSERT_EQ(page.events_size(), 2);
  EXPECT_EQ(page.events(0).object(), "channels/b");
  ASSERT_FALSE(page.next_page_token().empty());
  q.set_page_token(page.next_page_token());
  v1::ListAuditEventsResponse rest;
  ASSERT_TRUE(Call(admin_, &v1::OperatorService::Stub::ListAuditEvents, q, &rest).ok());
  ASSERT_EQ(rest.events_size(), 2);
  EXPECT_EQ(rest.events(1).new_value(), "target_version=1.1.0");
  EXPECT_TRUE(rest.next_page_token().empty());
  // A token is only good with the filters it was issued for.
  q.set_method("SetCritical");
  EXPECT_EQ(Call(admin_, &v1::OperatorService::Stub::ListAuditEvents, q, &rest).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A viewer reads the trail; listing tokens is for admins.
  const std::string viewer = NewOperator("vera", v1::OPERATOR_ROLE_VIEWER);
  v1::ListAuditEventsRequest all;
  EXPECT_TRUE(Call(viewer, &v1::OperatorService::Stub::ListAuditEvents, all, &rest).ok());
  v1::ListOperatorsRequest lo;
  v1::ListOperatorsResponse ops;
  EXPECT_EQ(Call(viewer, &v1::OperatorService::Stub::ListOperators, lo, &ops).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Call(admin_, &v1::OperatorService::Stub::ListOperators, lo, &ops).ok());
  EXPECT_EQ(ops.operators_size(), 3);  // root, otto, vera
}

// --- The real binaries -------------------------------------------------------

std::string WriteTokenFile(const std::string& dir, const std::string& name, const std::string& token) {
  const std::string path = absl::StrCat(dir, "/", name);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, token.data(), token.size()), static_cast<ssize_t>(token.size()));
  close(fd);
  return path;
}

nlohmann::json Json(const CommandResult& r) {
  nlohmann::json j = nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << r.output;
  return j;
}

TEST(AuthProcessTest, BootstrapTokenDroverctlRolesAndAuditFilters) {
  const std::string db = NewTestDatabase();
  char tmpl[] = "/tmp/drover-auth-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string admin_file = dir + "/admin.token";
  const std::string coordinator = BinaryPath("drover-coordinator"), ctl = BinaryPath("droverctl");
  CommandResult boot = testing::RunCommand({coordinator, "operators", "create", testing::DatabaseUrlFlag(db), "--name=boss",
                                            "--role=admin", "--token_file=" + admin_file});
  ASSERT_EQ(boot.exit_code, 0) << boot.output;
  struct stat st;
  ASSERT_EQ(stat(admin_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Never overwritten.
  CommandResult again = testing::RunCommand({coordinator, "operators", "create", testing::DatabaseUrlFlag(db), "--name=boss2",
                                             "--role=admin", "--token_file=" + admin_file});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(again.output, "never overwritten")) << again.output;

  // Real TLS: droverctl verifies the coordinator against the CA made here.
  ASSERT_EQ(testing::RunCommand({coordinator, "ca", "init", "--ca_dir=" + dir + "/tls", "--fleet=auth.test"}).exit_code, 0);
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> coord = CoordinatorProcess::Start(
      db, {"--tls_cert_file=" + dir + "/tls/server.pem", "--tls_key_file=" + dir + "/tls/server.key",
           "--host_ca_cert_file=" + dir + "/tls/ca.pem", "--host_ca_key_file=" + dir + "/tls/ca.key",
           "--fleet=auth.test"});
  ASSERT_TRUE(coord.ok()) << coord.status();
  const std::string at = "--coordinator=" + (*coord)->grpc_address();
  // droverctl (run below) reads the CA from its environment.
  setenv("DROVER_CA_FILE", (dir + "/tls/ca.pem").c_str(), 1);
  const std::string as_admin = "--token-file=" + admin_file;

  CommandResult anon = testing::RunCommand({ctl, at, "channels", "list"});
  EXPECT_EQ(anon.exit_code, 8) << anon.output;
  EXPECT_TRUE(absl::StrContains(anon.output, "not authenticated")) << anon.output;

  ASSERT_EQ(testing::RunCommand({ctl, at, as_admin, "channels", "create", "a", "--control-plane=2.0.0",
                                 "--target=1.0.0"}).exit_code, 0);
  ASSERT_EQ(testing::RunCommand({ctl, at, as_admin, "channels", "create", "b", "--control-plane=2.0.0"}).exit_code, 0);
  const std::string viewer_file = dir + "/viewer.token";
  CommandResult made = testing::RunCommand(
      {ctl, at, as_admin, "operators", "create", "vera", "--role=viewer", "--out=" + viewer_file});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_FALSE(absl::StrContains(made.output, "drover_op_")) << "the token went to the screen";
  ASSERT_EQ(stat(viewer_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A token file others can read is refused before anything is sent.
  const std::string loose = WriteTokenFile(dir, "loose.token", "drover_op_x");
  chmod(loose.c_str(), 0644);
  CommandResult lax = testing::RunCommand({ctl, at, "--token-file=" + loose, "channels", "list"});
  EXPECT_EQ(lax.exit_code, 2) << lax.output;
  EXPECT_TRUE(absl::StrContains(lax.output, "chmod 600")) << lax.output;

  const std::string as_viewer = "--token-file=" + viewer_file;
  CommandResult denied = testing::RunCommand({ctl, at, as_viewer, "target", "set", "a", "1.1.0"});
  EXPECT_EQ(denied.exit_code, 8) << denied.output;
  EXPECT_TRUE(absl::StrContains(denied.output, "operator role")) << denied.output;
  EXPECT_EQ(testing::RunCommand({ctl, at, as_viewer, "channels", "list"}).exit_code, 0);
  ASSERT_EQ(testing::RunCommand({ctl, at, as_admin, "target", "set", "b", "1.5.0"}).exit_code, 0);
  ASSERT_EQ(testing::RunCommand({ctl, at, as_admin, "target", "set", "a", "1.2.0"}).exit_code, 0);

  auto audit = [&](std::vector<std::string> flags) {
    std::vector<std::string> argv = {ctl, at, as_viewer, "-o", "json", "audit"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    CommandResult r = testing::RunCommand(argv);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return Json(r)["events"];
  };
  nlohmann::json a = audit({"--channel=a"});
  ASSERT_EQ(a.size(), 3u) << a.dump();  // create, refused set by vera, set by boss
  for (const auto& e : a) EXPECT_EQ(e["object"], "channels/a");
  nlohmann::json refused = audit({"--result=refused"});
  ASSERT_EQ(refused.size(), 1u) << refused.dump();
  EXPECT_EQ(refused[0]["actor"], "vera");
  EXPECT_EQ(refused[0]["result"], "AUDIT_RESULT_REFUSED");
  nlohmann::json by_boss = audit({"--actor=boss", "--method=SetTargetVersion"});
  ASSERT_EQ(by_boss.size(), 2u) << by_boss.dump();
  EXPECT_EQ(by_boss[0]["object"], "channels/a");
  EXPECT_EQ(by_boss[0]["old_value"], "target_version=1.0.0");
  EXPECT_EQ(by_boss[0]["new_value"], "target_version=1.2.0");
  EXPECT_EQ(audit({"--limit=1"}).size(), 1u);
  EXPECT_GE(audit({"--since=1h"}).size(), 5u);
  EXPECT_EQ(audit({"--until=2000-01-01T00:00:00Z"}).size(), 0u);
  CommandResult bad = testing::RunCommand({ctl, at, as_viewer, "audit", "--result=maybe"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  // The table names actor, peer and values.
  CommandResult table = testing::RunCommand({ctl, at, as_viewer, "audit", "--channel=a"});
  EXPECT_TRUE(absl::StrContains(table.output, "vera")) << table.output;
  EXPECT_TRUE(absl::StrContains(table.output, "127.0.0.1")) << table.output;

  // Revoked: refused from then on.
  ASSERT_EQ(testing::RunCommand({ctl, at, as_admin, "operators", "revoke", "vera"}).exit_code, 0);
  CommandResult gone = testing::RunCommand({ctl, at, as_viewer, "channels", "list"});
  EXPECT_EQ(gone.exit_code, 8) << gone.output;
  EXPECT_TRUE(absl::StrContains(gone.output, "revoked")) << gone.output;
  (*coord)->Signal(SIGTERM);
  (*coord)->WaitForExit(absl::Seconds(20));
}

TEST(AuthProcessTest, InsecureModeActsAsAnonymousAdminAndSaysSo) {
  const std::string db = NewTestDatabase();
  unsetenv("DROVER_CA_FILE");  // set by the TLS test above; plaintext here
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> coord = CoordinatorProcess::Start(db);  // --insecure
  ASSERT_TRUE(coord.ok()) << coord.status();
  const std::string at = "--coordinator=" + (*coord)->grpc_address();
  const std::string ctl = BinaryPath("droverctl");
  ASSERT_EQ(testing::RunCommand({ctl, at, "--insecure", "channels", "create", "x", "--control-plane=2.0.0"}).exit_code, 0);
  EXPECT_EQ(QueryValue(db, "SELECT actor FROM audit_events WHERE method LIKE '%CreateChannel'"), "anonymous");
  EXPECT_TRUE(absl::StartsWith(QueryValue(db, "SELECT peer FROM audit_events WHERE method LIKE '%CreateChannel'"),
                               "ipv4:127.0.0.1:"));
  EXPECT_TRUE(absl::StrContains((*coord)->Log(), "--insecure")) << (*coord)->Log();
  // A token, when sent, is still checked.
  char tmpl[] = "/tmp/drover-auth-XXXXXX";
  const std::string bogus = WriteTokenFile(mkdtemp(tmpl), "t", "drover_op_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_EQ(testing::RunCommand({ctl, at, "--insecure", "--token-file=" + bogus, "channels", "list"}).exit_code, 8);
}

}  // namespace
}  // namespace drover
