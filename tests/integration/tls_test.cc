// Transport and host identities with real TLS: a CA made by the test
// (drover-coordinator's own CA code, OpenSSL), the coordinator serving TLS
// in-process, clients with and without client certificates.
#include <sys/stat.h>

#include <condition_variable>
#include <mutex>
#include <utility>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_testing.h"
#include "coordinator/ca_command.h"
#include "coordinator/server.h"
#include "drover/v1/enrollment_service.grpc.pb.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "common/pki/pki.h"
#include "tests/support/grpc_health.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using testing::IsError;
using testing::NewTestDatabase;
using testing::QueryValue;

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

std::string MakeTempDir() {
  char tmpl[] = "/tmp/drover-tls-XXXXXX";
  return mkdtemp(tmpl);
}

std::string Read(const std::string& path) { return *pki::ReadFile(path); }

// A host's key and certificate as an updater holds them.
struct HostCredentials {
  std::string key_pem;
  std::string cert_pem;
};

// A healthy host's report on 15.1.0.
v1::ReportStatusRequest HealthyReport(const std::string& host, int64_t seq, const std::string& channel = "prod") {
  v1::ReportStatusRequest r;
  r.set_host_id(host);
  r.set_channel("channels/" + channel);
  r.set_current_version("15.1.0");
  r.set_health(v1::HEALTH_HEALTHY);
  r.set_updater_version("0.1.0");
  r.set_sequence(seq);
  return r;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = NewTestDatabase();
    dir_ = MakeTempDir();
    absl::StatusOr<std::string> init = InitCa({.dir = dir_, .fleet = "test.fleet"}, absl::Now());
    ASSERT_TRUE(init.ok()) << init.status();
    ca_pem_ = Read(dir_ + "/ca.pem");
    absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::Load(ca_pem_, Read(dir_ + "/ca.key"));
    ASSERT_TRUE(ca.ok());
    ca_ = std::make_unique<pki::CertificateAuthority>(*std::move(ca));
    // Operator calls need an admin token once the coordinator is not --insecure.
    absl::StatusOr<std::string> admin = CreateOperatorDirectly(db_, absl::Seconds(30), "tls-admin", "admin",
                                                               absl::ZeroDuration());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_token_ = *admin;
    server_ = Start(TlsConfig());
    ASSERT_NE(server_, nullptr);
    ops_ = v1::OperatorService::NewStub(Channel({}));
    ASSERT_TRUE(CreateChannel("prod").ok());
  }

  CoordinatorConfig TlsConfig() const {
    CoordinatorConfig config;
    config.database_url = db_;
    config.grpc_listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.fleet_refresh_interval = absl::Milliseconds(100);
    config.shutdown_grace = absl::Seconds(5);
    config.tls_cert_file = dir_ + "/server.pem";
    config.tls_key_file = dir_ + "/server.key";
    config.host_ca_cert_file = dir_ + "/ca.pem";
    config.host_ca_key_file = dir_ + "/ca.key";
    config.fleet = "test.fleet";
    return config;
  }

  static std::unique_ptr<CoordinatorServer> Start(const CoordinatorConfig& config) {
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(config);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  // A TLS channel verifying the coordinator against the test's CA; with a
  // client certificate when `host` has one. Each is a new connection.
  std::shared_ptr<grpc::Channel> Channel(const HostCredentials& host, const std::string& ca_pem = "") const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ca_pem.empty() ? ca_pem_ : ca_pem;
    options.pem_private_key = host.key_pem;
    options.pem_cert_chain = host.cert_pem;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(server_->grpc_address(), grpc::SslCredentials(options), args);
  }

  void AsAdmin(grpc::ClientContext& ctx) const { ctx.AddMetadata("authorization", "Bearer " + admin_token_); }

  absl::Status CreateChannel(const std::string& id) {
    v1::CreateChannelRequest req;
    req.set_channel_id(id);
    req.set_control_plane_version("15.2.0");
    req.set_target_version("15.1.0");
    v1::Channel out;
    grpc::ClientContext ctx;
    AsAdmin(ctx);
    return FromGrpc(ops_->CreateChannel(&ctx, req, &out));
  }

  absl::StatusOr<std::string> CreateToken(const std::string& channel) {
    v1::CreateJoinTokenRequest req;
    req.set_channel("channels/" + channel);
    v1::CreateJoinTokenResponse out;
    grpc::ClientContext ctx;
    AsAdmin(ctx);
    grpc::Status s = ops_->CreateJoinToken(&ctx, req, &out);
    if (!s.ok()) return FromGrpc(s);
    return out.token();
  }

  absl::Status Revoke(const std::string& host) {
    v1::RevokeAgentRequest req;
    req.set_host_id(host);
    v1::RevokeAgentResponse out;
    grpc::ClientContext ctx;
    AsAdmin(ctx);
    return FromGrpc(ops_->RevokeAgent(&ctx, req, &out));
  }

  // Enrols `host` with `token` over server-authenticated TLS, as an updater does.
  absl::StatusOr<HostCredentials> Enroll(const std::string& host, const std::string& token) {
    HostCredentials creds;
    creds.key_pem = *pki::GenerateKeyPem();
    v1::EnrollRequest req;
    req.set_join_token(token);
    req.set_host_id(host);
    req.set_csr_pem(*pki::MakeCsrPem(creds.key_pem, host));
    v1::EnrollResponse out;
    grpc::ClientContext ctx;
    grpc::Status s = v1::EnrollmentService::NewStub(Channel({}))->Enroll(&ctx, req, &out);
    if (!s.ok()) return FromGrpc(s);
    creds.cert_pem = out.certificate_chain_pem();
    return creds;
  }

  absl::StatusOr<HostCredentials> EnrollNew(const std::string& host, const std::string& channel = "prod") {
    absl::StatusOr<std::string> token = CreateToken(channel);
    if (!token.ok()) return token.status();
    return Enroll(host, *token);
  }

  absl::StatusOr<HostCredentials> Renew(const HostCredentials& current) {
    HostCredentials next;
    next.key_pem = *pki::GenerateKeyPem();
    v1::RenewRequest req;
    req.set_csr_pem(*pki::MakeCsrPem(next.key_pem, "renewal"));
    v1::RenewResponse out;
    grpc::ClientContext ctx;
    grpc::Status s = v1::EnrollmentService::NewStub(Channel(current))->Renew(&ctx, req, &out);
    if (!s.ok()) return FromGrpc(s);
    next.cert_pem = out.certificate_chain_pem();
    return next;
  }

  absl::Status Report(const HostCredentials& as, const std::string& host, int64_t seq,
                      const std::string& channel = "prod") {
    const v1::ReportStatusRequest r = HealthyReport(host, seq, channel);
    v1::ReportStatusResponse out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return FromGrpc(v1::UpdaterService::NewStub(Channel(as))->ReportStatus(&ctx, r, &out));
  }

  absl::Status GetTarget(const HostCredentials& as) {
    v1::GetTargetRequest req;
    req.set_channel("channels/prod");
    v1::GetTargetResponse out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    absl::Status s = FromGrpc(v1::UpdaterService::NewStub(Channel(as))->GetTarget(&ctx, req, &out));
    if (s.ok() && out.target_version() != "15.1.0") return absl::InternalError("wrong target");
    return s;
  }

  double Refused(const std::string& reason) {
    absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
    EXPECT_TRUE(body.ok());
    return testing::MetricValue(*body, absl::StrCat("drover_reports_refused_total{reason=\"", reason, "\"}"));
  }

  std::string StoredSequence(const std::string& host) {
    return QueryValue(db_, absl::StrCat("SELECT coalesce((SELECT sequence::text FROM agents WHERE host_id = '", host,
                                        "'), 'none')"));
  }

  std::string db_;
  std::string dir_;
  std::string ca_pem_;
  std::string admin_token_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::OperatorService::Stub> ops_;
};

TEST_F(TlsTest, EnrolledHostReportsOverMutualTls) {
  absl::StatusOr<HostCredentials> host = EnrollNew("web-1");
  ASSERT_TRUE(host.ok()) << host.status();
  absl::StatusOr<pki::CertificateInfo> cert = pki::ParseCertificatePem(host->cert_pem);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->uri_sans, std::vector<std::string>{"spiffe://test.fleet/host/web-1"});
  EXPECT_LE(cert->not_after, absl::Now() + absl::Hours(24 * 30) + absl::Minutes(1));
  EXPECT_GT(cert->not_after, absl::Now() + absl::Hours(24 * 29));
  // The serial is recorded, for the host and channel of the token.
  EXPECT_EQ(QueryValue(db_, "SELECT host_id || ' ' || channel FROM host_certificates WHERE serial = '" +
                                cert->serial_hex + "'"),
            "web-1 prod");
  // The chain ends with the CA, so the updater can check what it got.
  EXPECT_TRUE(pki::VerifyCertificate(host->cert_pem, ca_pem_, absl::Now()).ok());

  ASSERT_TRUE(Report(*host, "web-1", 1).ok());
  EXPECT_EQ(StoredSequence("web-1"), "1");
}

// A host's certificate opens no operator RPC, even with an admin token
// beside it: a compromised host must not steer the fleet.
TEST_F(TlsTest, AHostCertificateCallsNoOperatorRpcEvenWithAToken) {
  absl::StatusOr<HostCredentials> host = EnrollNew("web-op");
  ASSERT_TRUE(host.ok()) << host.status();
  std::unique_ptr<v1::OperatorService::Stub> as_host = v1::OperatorService::NewStub(Channel(*host));
  v1::ListChannelsResponse channels;
  grpc::ClientContext read;
  AsAdmin(read);
  grpc::Status s = as_host->ListChannels(&read, v1::ListChannelsRequest(), &channels);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  v1::SetCriticalRequest critical;
  critical.set_name("channels/prod");
  critical.set_critical(true);
  critical.set_reason("compromised host");
  v1::Channel out;
  grpc::ClientContext write;
  s = as_host->SetCritical(&write, critical, &out);
  EXPECT_TRUE(s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
              s.error_code() == grpc::StatusCode::UNAUTHENTICATED)
      << s.error_message();
  // The same token without the host certificate is an admin.
  grpc::ClientContext plain;
  AsAdmin(plain);
  EXPECT_TRUE(ops_->ListChannels(&plain, v1::ListChannelsRequest(), &channels).ok());
  EXPECT_EQ(channels.channels_size(), 1);
}

TEST_F(TlsTest, GetTargetNeedsNoClientCertificateButReportsDo) {
  EXPECT_TRUE(GetTarget({}).ok());
  EXPECT_TRUE(IsError(Report({}, "web-1", 1), absl::StatusCode::kUnauthenticated, {"no client certificate"}));
  EXPECT_EQ(StoredSequence("web-1"), "none");
  EXPECT_EQ(Refused("no_certificate"), 1);
}

TEST_F(TlsTest, ReportForAnotherHostIsPermissionDenied) {
  absl::StatusOr<HostCredentials> a = EnrollNew("host-a");
  ASSERT_TRUE(a.ok()) << a.status();
  // The forged report of the issue: another host's id, the largest sequence.
  EXPECT_TRUE(IsError(Report(*a, "host-b", INT64_MAX), absl::StatusCode::kPermissionDenied,
                      {"\"host-b\"", "\"host-a\""}));
  EXPECT_EQ(StoredSequence("host-b"), "none");
  EXPECT_EQ(Refused("wrong_host"), 1);
}

TEST_F(TlsTest, ReportForAnotherChannelThanEnrolledIsRefusedSayingSo) {
  ASSERT_TRUE(CreateChannel("staging").ok());
  absl::StatusOr<HostCredentials> a = EnrollNew("host-a", "staging");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(IsError(Report(*a, "host-a", 1, "prod"), absl::StatusCode::kPermissionDenied,
                      {"enrolled for channel \"staging\""}));
  EXPECT_EQ(Refused("wrong_channel"), 1);
  EXPECT_TRUE(Report(*a, "host-a", 1, "staging").ok());
}

// Sync: the target needs no certificate, the report does; each half says so.
v1::SyncResponse SyncAs(const std::shared_ptr<grpc::Channel>& channel, const std::string& host, int64_t seq,
                        grpc::Status* status) {
  v1::SyncRequest req;
  *req.mutable_report() = HealthyReport(host, seq);
  v1::SyncResponse out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  *status = v1::UpdaterService::NewStub(channel)->Sync(&ctx, req, &out);
  return out;
}

TEST_F(TlsTest, SyncWithoutACertificateGetsTheTargetAndTheReportIsRefused) {
  grpc::Status status;
  v1::SyncResponse out = SyncAs(Channel({}), "web-1", 1, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(out.has_target());
  EXPECT_EQ(out.target().target_version(), "15.1.0");
  EXPECT_EQ(out.target_error_code(), 0);
  EXPECT_TRUE(out.has_next_sync());
  EXPECT_FALSE(out.has_report());
  EXPECT_EQ(out.report_error_code(), static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_TRUE(absl::StrContains(out.report_error(), "no client certificate")) << out.report_error();
  EXPECT_EQ(StoredSequence("web-1"), "none");
  EXPECT_EQ(Refused("no_certificate"), 1);
}

TEST_F(TlsTest, SyncReportsForItsOwnHostOnly) {
  absl::StatusOr<HostCredentials> a = EnrollNew("host-a");
  ASSERT_TRUE(a.ok()) << a.status();
  grpc::Status status;
  // Another host's report: refused as ReportStatus refuses it; the target
  // is still answered.
  v1::SyncResponse out = SyncAs(Channel(*a), "host-b", INT64_MAX, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(out.target().target_version(), "15.1.0");
  EXPECT_EQ(out.report_error_code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_TRUE(absl::StrContains(out.report_error(), "\"host-b\"")) << out.report_error();
  EXPECT_EQ(StoredSequence("host-b"), "none");
  EXPECT_EQ(Refused("wrong_host"), 1);
  // Its own: stored, answered after the commit.
  out = SyncAs(Channel(*a), "host-a", 7, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(out.report_error_code(), 0) << out.report_error();
  EXPECT_EQ(out.report().disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  EXPECT_EQ(out.target().target_version(), "15.1.0");
  EXPECT_EQ(StoredSequence("host-a"), "7");
}

TEST_F(TlsTest, JoinTokensAreSingleUseExpiringAndBoundToTheirChannel) {
  absl::StatusOr<std::string> token = CreateToken("prod");
  ASSERT_TRUE(token.ok()) << token.status();
  // Only the hash is stored.
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM join_tokens WHERE token_sha256 = '" + pki::Sha256Hex(*token) + "'"),
            "1");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM join_tokens WHERE token_sha256 = '" + *token + "'"), "0");
  ASSERT_TRUE(Enroll("h1", *token).ok());
  EXPECT_TRUE(IsError(Enroll("h2", *token).status(), absl::StatusCode::kUnauthenticated, {"already used"}));
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM host_certificates WHERE host_id = 'h2'"), "0");

  absl::StatusOr<std::string> expiring = CreateToken("prod");
  ASSERT_TRUE(expiring.ok());
  QueryValue(db_, "UPDATE join_tokens SET expires_at = now() - interval '1 second' WHERE token_sha256 = '" +
                      pki::Sha256Hex(*expiring) + "' RETURNING 1");
  EXPECT_TRUE(IsError(Enroll("h3", *expiring).status(), absl::StatusCode::kUnauthenticated, {"expired"}));

  EXPECT_TRUE(IsError(Enroll("h4", "drover-join-00").status(), absl::StatusCode::kUnauthenticated, {"unknown"}));
  EXPECT_TRUE(IsError(Enroll("h4", "guess").status(), absl::StatusCode::kInvalidArgument, {"join_token"}));
  EXPECT_TRUE(IsError(CreateToken("nope").status(), absl::StatusCode::kNotFound, {"nope"}));

  // A bad CSR uses no token.
  absl::StatusOr<std::string> kept = CreateToken("prod");
  v1::EnrollRequest req;
  req.set_join_token(*kept);
  req.set_host_id("h5");
  req.set_csr_pem("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
  v1::EnrollResponse out;
  grpc::ClientContext ctx;
  EXPECT_TRUE(IsError(FromGrpc(v1::EnrollmentService::NewStub(Channel({}))->Enroll(&ctx, req, &out)),
                      absl::StatusCode::kInvalidArgument, {"csr_pem"}));
  EXPECT_TRUE(Enroll("h5", *kept).ok());
}

TEST_F(TlsTest, ExpiredClientCertificateIsRefused) {
  // Issued by the right CA, for the right host, but expired an hour ago.
  HostCredentials old;
  old.key_pem = *pki::GenerateKeyPem();
  absl::StatusOr<pki::IssuedCertificate> cert = ca_->IssueHostCertificate(
      *pki::MakeCsrPem(old.key_pem, "web-1"), "test.fleet", "web-1", "prod", absl::Hours(1),
      absl::Now() - absl::Hours(2));
  ASSERT_TRUE(cert.ok());
  old.cert_pem = cert->cert_pem;
  // The handshake fails: the connection never carries a call.
  EXPECT_TRUE(IsError(Report(old, "web-1", 1), absl::StatusCode::kUnavailable));
  EXPECT_EQ(StoredSequence("web-1"), "none");
  // Nor can it be renewed.
  EXPECT_TRUE(IsError(Renew(old).status(), absl::StatusCode::kUnavailable));
}

TEST_F(TlsTest, CertificateFromAnUnknownCaIsRefused) {
  absl::StatusOr<pki::KeyAndCertificate> other_files =
      pki::CertificateAuthority::Create("test.fleet", absl::Hours(24), absl::Now());
  absl::StatusOr<pki::CertificateAuthority> other =
      pki::CertificateAuthority::Load(other_files->cert_pem, other_files->key_pem);
  HostCredentials forged;
  forged.key_pem = *pki::GenerateKeyPem();
  forged.cert_pem = other->IssueHostCertificate(*pki::MakeCsrPem(forged.key_pem, "web-1"), "test.fleet", "web-1",
                                                "prod", absl::Hours(1), absl::Now())
                        ->cert_pem;
  EXPECT_TRUE(IsError(Report(forged, "web-1", 1), absl::StatusCode::kUnavailable));
  EXPECT_TRUE(IsError(Renew(forged).status(), absl::StatusCode::kUnavailable));
  EXPECT_EQ(StoredSequence("web-1"), "none");
  // And a client that trusts another CA does not talk to this coordinator.
  absl::StatusOr<HostCredentials> host = EnrollNew("web-2");
  ASSERT_TRUE(host.ok());
  v1::GetTargetRequest req;
  req.set_channel("channels/prod");
  v1::GetTargetResponse out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(v1::UpdaterService::NewStub(Channel(*host, other_files->cert_pem))->GetTarget(&ctx, req, &out).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, RenewalGivesANewCertificateForTheSameHost) {
  absl::StatusOr<HostCredentials> first = EnrollNew("web-1");
  ASSERT_TRUE(first.ok());
  absl::StatusOr<HostCredentials> second = Renew(*first);
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<pki::CertificateInfo> a = pki::ParseCertificatePem(first->cert_pem);
  absl::StatusOr<pki::CertificateInfo> b = pki::ParseCertificatePem(second->cert_pem);
  EXPECT_NE(a->serial_hex, b->serial_hex);
  EXPECT_EQ(b->uri_sans, a->uri_sans);
  EXPECT_EQ(b->subject_ou, "prod");
  EXPECT_EQ(QueryValue(db_, "SELECT renewed_from FROM host_certificates WHERE serial = '" + b->serial_hex + "'"),
            a->serial_hex);
  EXPECT_TRUE(Report(*second, "web-1", 1).ok());
  // Without a certificate there is nothing to renew.
  EXPECT_TRUE(IsError(Renew({}).status(), absl::StatusCode::kUnauthenticated));
}

// Enrolment and renewal are mutations: each writes its audit row in the
// transaction that records the certificate, refusals a row of their own, and
// a failed audit insert leaves no certificate, no used token and nothing
// handed out.
TEST_F(TlsTest, EnrolmentsAndRenewalsAreAuditedInTheirTransaction) {
  absl::StatusOr<HostCredentials> first = EnrollNew("web-1");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string serial1 = pki::ParseCertificatePem(first->cert_pem)->serial_hex;
  auto row = [&](const std::string& method, const std::string& result, const std::string& columns) {
    return QueryValue(db_, absl::StrCat("SELECT coalesce(string_agg(", columns, ", ' | ' ORDER BY id), 'none') "
                                        "FROM audit_events WHERE method = 'drover.v1.EnrollmentService.",
                                        method, "' AND result = '", result, "'"));
  };
  EXPECT_EQ(row("Enroll", "ok", "actor || ' ' || object"), "host:web-1 hosts/web-1");
  EXPECT_TRUE(absl::StrContains(row("Enroll", "ok", "new_value"), serial1)) << row("Enroll", "ok", "new_value");
  EXPECT_TRUE(absl::StrContains(row("Enroll", "ok", "new_value"), "channel \"prod\""));
  EXPECT_FALSE(absl::StartsWith(row("Enroll", "ok", "peer"), "none"));

  absl::StatusOr<HostCredentials> second = Renew(*first);
  ASSERT_TRUE(second.ok()) << second.status();
  const std::string serial2 = pki::ParseCertificatePem(second->cert_pem)->serial_hex;
  EXPECT_EQ(row("Renew", "ok", "actor || ' ' || object || ' ' || old_value"),
            absl::StrCat("host:web-1 hosts/web-1 certificate ", serial1));
  EXPECT_TRUE(absl::StrContains(row("Renew", "ok", "new_value"), serial2));

  // Refused: a used token (no row of its own change), an unauthenticated renewal.
  absl::StatusOr<std::string> token = CreateToken("prod");
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(Enroll("web-2", *token).ok());
  EXPECT_FALSE(Enroll("web-3", *token).ok());
  EXPECT_TRUE(absl::StartsWith(row("Enroll", "refused", "object || ' ' || reason"),
                               "hosts/web-3 UNAUTHENTICATED: join token already used"))
      << row("Enroll", "refused", "object || ' ' || reason");
  EXPECT_FALSE(Renew({}).ok());
  EXPECT_TRUE(absl::StartsWith(row("Renew", "refused", "reason"), "UNAUTHENTICATED")) << row("Renew", "refused", "reason");

  // The audit insert fails: the enrolment is undone whole.
  QueryValue(db_, "ALTER TABLE audit_events ADD CONSTRAINT no_web4 CHECK (object <> 'hosts/web-4' OR result <> 'ok') "
                  "NOT VALID");
  absl::StatusOr<std::string> kept = CreateToken("prod");
  ASSERT_TRUE(kept.ok());
  absl::Status failed = Enroll("web-4", *kept).status();
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(absl::StrContains(failed.message(), "no_web4")) << "database text leaked: " << failed;
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM host_certificates WHERE host_id = 'web-4'"), "0");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM join_tokens WHERE used_at IS NOT NULL AND token_sha256 = '" +
                                pki::Sha256Hex(*kept) + "'"),
            "0");
  // ... and recorded as refused (that row is allowed).
  EXPECT_TRUE(absl::StrContains(row("Enroll", "refused", "object"), "hosts/web-4"));
  QueryValue(db_, "ALTER TABLE audit_events DROP CONSTRAINT no_web4");
  EXPECT_TRUE(Enroll("web-4", *kept).ok());
}

TEST_F(TlsTest, RevokedHostIsRefusedUntilItEnrolsAgain) {
  absl::StatusOr<HostCredentials> host = EnrollNew("web-1");
  ASSERT_TRUE(host.ok());
  absl::StatusOr<HostCredentials> renewed = Renew(*host);
  ASSERT_TRUE(renewed.ok());
  ASSERT_TRUE(Report(*renewed, "web-1", 1).ok());
  ASSERT_TRUE(Revoke("web-1").ok());
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM host_certificates WHERE host_id = 'web-1' AND revoked_at IS NULL"),
            "0");
  for (const HostCredentials* c : {&*host, &*renewed}) {
    EXPECT_TRUE(IsError(Report(*c, "web-1", 2), absl::StatusCode::kPermissionDenied, {"revoked"}));
    EXPECT_TRUE(IsError(Renew(*c).status(), absl::StatusCode::kPermissionDenied, {"revoked"}));
  }
  EXPECT_EQ(StoredSequence("web-1"), "1");
  EXPECT_GE(Refused("revoked"), 4);
  // Reading the target still works: a broken host can recover.
  EXPECT_TRUE(GetTarget(*host).ok());
  EXPECT_TRUE(IsError(Revoke("never-enrolled"), absl::StatusCode::kNotFound, {"never enrolled"}));

  absl::StatusOr<HostCredentials> again = EnrollNew("web-1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(Report(*again, "web-1", 2).ok());
}

TEST_F(TlsTest, RevocationOnAnotherReplicaAppliesWithinOneRefresh) {
  absl::StatusOr<HostCredentials> host = EnrollNew("web-1");
  ASSERT_TRUE(host.ok());
  // Another replica on the same database; the revocation is made there.
  std::unique_ptr<CoordinatorServer> other = Start(TlsConfig());
  ASSERT_NE(other, nullptr);
  std::unique_ptr<v1::OperatorService::Stub> other_ops = v1::OperatorService::NewStub(
      grpc::CreateChannel(other->grpc_address(), grpc::SslCredentials({.pem_root_certs = ca_pem_})));
  v1::RevokeAgentRequest req;
  req.set_host_id("web-1");
  v1::RevokeAgentResponse out;
  grpc::ClientContext ctx;
  AsAdmin(ctx);
  ASSERT_TRUE(other_ops->RevokeAgent(&ctx, req, &out).ok());
  EXPECT_EQ(out.revoked_certificates(), 1);
  int64_t seq = 1;
  EXPECT_TRUE(testing::PollUntil(absl::Seconds(10), [&] {
    return Report(*host, "web-1", seq++).code() == absl::StatusCode::kPermissionDenied;
  }));
}

TEST_F(TlsTest, StartRefusesWithoutTlsOrInsecureAndReadableKeys) {
  CoordinatorConfig none = TlsConfig();
  none.tls_cert_file = none.tls_key_file = none.host_ca_cert_file = none.host_ca_key_file = "";
  EXPECT_TRUE(IsError(CoordinatorServer::Start(none).status(), absl::StatusCode::kFailedPrecondition,
                      {"--tls_cert_file", "--insecure", "ca init"}));
  CoordinatorConfig half = TlsConfig();
  half.host_ca_key_file = "";
  EXPECT_TRUE(IsError(CheckTransportConfig(half), absl::StatusCode::kInvalidArgument, {"--host_ca_key_file"}));
  CoordinatorConfig both = TlsConfig();
  both.insecure = true;
  EXPECT_FALSE(CheckTransportConfig(both).ok());

  ASSERT_EQ(chmod((dir_ + "/ca.key").c_str(), 0644), 0);
  CoordinatorConfig config = TlsConfig();
  config.grpc_listen = "127.0.0.1:0";
  EXPECT_TRUE(IsError(CoordinatorServer::Start(config).status(), absl::StatusCode::kFailedPrecondition,
                      {"--host_ca_key_file", "chmod 600"}));
}

TEST_F(TlsTest, PlaintextHealthPortServesHealthOnly) {
  CoordinatorConfig config = TlsConfig();
  config.health_listen = "127.0.0.1:0";
  std::unique_ptr<CoordinatorServer> server = Start(config);
  ASSERT_NE(server, nullptr);
  ASSERT_FALSE(server->health_address().empty());
  ASSERT_NE(server->health_address(), "127.0.0.1:0");
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> plain =
      grpc::CreateCustomChannel(server->health_address(), grpc::InsecureChannelCredentials(), args);
  auto [status, serving] = testing::HealthCheck(plain);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(serving, 1);
  // Nothing else is served there: no operator or updater API in plaintext.
  std::unique_ptr<v1::OperatorService::Stub> ops = v1::OperatorService::NewStub(plain);
  grpc::ClientContext ctx;
  v1::ListChannelsRequest req;
  v1::ListChannelsResponse resp;
  EXPECT_EQ(ops->ListChannels(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // The main port stays TLS-only.
  grpc::ClientContext ctx2;
  std::unique_ptr<v1::OperatorService::Stub> plain_main = v1::OperatorService::NewStub(
      grpc::CreateCustomChannel(server->grpc_address(), grpc::InsecureChannelCredentials(), args));
  ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_FALSE(plain_main->ListChannels(&ctx2, req, &resp).ok());
  // Once shut down, the probe fails.
  const std::string address = server->health_address();
  server->Shutdown();
  auto [after, unused] = testing::HealthCheck(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  EXPECT_FALSE(after.ok());

  // A taken address is refused by name.
  CoordinatorConfig taken = TlsConfig();
  taken.health_listen = server_->grpc_address();
  EXPECT_TRUE(IsError(CoordinatorServer::Start(taken).status(), absl::StatusCode::kUnavailable,
                      {"--health_listen", server_->grpc_address()}));
}

TEST(TlsCommandTest, CoordinatorBinaryRefusesPlaintextUnlessInsecureAndWarnsEachStart) {
  const std::string db = NewTestDatabase();
  const std::string coordinator = testing::BinaryPath("drover-coordinator");
  testing::CommandResult refused = testing::RunCommand({coordinator, testing::DatabaseUrlFlag(db)}, absl::Seconds(30));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(refused.output, "--insecure")) << refused.output;
  EXPECT_TRUE(absl::StrContains(refused.output, "--tls_cert_file")) << refused.output;

  absl::StatusOr<std::unique_ptr<testing::CoordinatorProcess>> p = testing::CoordinatorProcess::Start(db);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(absl::StrContains((*p)->Log(), "WARNING: --insecure")) << (*p)->Log();

  // ca init makes the files serve needs, keys 0600, and never overwrites a CA.
  const std::string dir = MakeTempDir() + "/ca";
  testing::CommandResult init =
      testing::RunCommand({coordinator, "ca", "init", "--ca_dir=" + dir, "--fleet=demo", "--san=coord.example"});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  EXPECT_TRUE(absl::StrContains(init.output, "--tls_cert_file=" + dir + "/server.pem")) << init.output;
  struct stat st;
  ASSERT_EQ(stat((dir + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  testing::CommandResult again = testing::RunCommand({coordinator, "ca", "init", "--ca_dir=" + dir, "--fleet=demo"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(again.output, "exists")) << again.output;
  testing::CommandResult bad = testing::RunCommand({coordinator, "ca", "init", "--ca_dir=" + dir + "2", "--fleet=Bad"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(bad.output, "\"Bad\"")) << bad.output;

  absl::StatusOr<std::unique_ptr<testing::CoordinatorProcess>> tls = testing::CoordinatorProcess::Start(
      db, {"--tls_cert_file=" + dir + "/server.pem", "--tls_key_file=" + dir + "/server.key",
           "--host_ca_cert_file=" + dir + "/ca.pem", "--host_ca_key_file=" + dir + "/ca.key", "--fleet=demo"});
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_FALSE(absl::StrContains((*tls)->Log(), "--insecure")) << (*tls)->Log();
}

}  // namespace
}  // namespace drover
