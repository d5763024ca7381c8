#include "coordinator/api/authz.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_testing.h"
#include "coordinator/api/operator_token.h"
#include "drover/v1/operator_service.pb.h"
#include "drover/v1/trust_service.pb.h"

namespace drover::api {
namespace {

using ::drover::testing::IsError;

// A TLS peer as gRPC describes it: properties by name.
class FakeAuthContext final : public grpc::AuthContext {
 public:
  using Properties = std::multimap<std::string, std::string>;
  explicit FakeAuthContext(Properties properties, bool authenticated = true)
      : properties_(std::move(properties)), authenticated_(authenticated) {}
  bool IsPeerAuthenticated() const override { return authenticated_; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return FindPropertyValues("x509_common_name"); }
  std::string GetPeerIdentityPropertyName() const override { return "x509_common_name"; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> out;
    auto [begin, end] = properties_.equal_range(name);
    for (auto it = begin; it != end; ++it) out.emplace_back(it->second);
    return out;
  }
  grpc::AuthPropertyIterator begin() const override { return EmptyIterator(); }
  grpc::AuthPropertyIterator end() const override { return EmptyIterator(); }
  void AddProperty(const std::string& key, const grpc::string_ref& value) override {
    properties_.emplace(key, std::string(value.data(), value.size()));
  }
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  struct EmptyIterator : grpc::AuthPropertyIterator {};
  std::multimap<std::string, std::string> properties_;
  bool authenticated_;
};

class FakeOperatorStore final : public store::OperatorStore {
 public:
  absl::StatusOr<store::OperatorRecord> CreateOperator(const store::OperatorRecord& op, const std::string& hash,
                                                       const store::AuditRecord*) override {
    by_hash_[hash] = op;
    return op;
  }
  absl::StatusOr<store::OperatorRecord> FindOperatorByTokenHash(const std::string& hash) override {
    ++lookups;
    if (down) return absl::UnavailableError("database down");
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return absl::NotFoundError("unknown operator token");
    return it->second;
  }
  absl::StatusOr<std::vector<store::OperatorRecord>> ListOperators(bool) override { return absl::UnimplementedError(""); }
  absl::StatusOr<store::OperatorRecord> RevokeOperator(const std::string&, const store::AuditRecord*) override {
    return absl::UnimplementedError("");
  }
  int lookups = 0;
  bool down = false;

 private:
  std::map<std::string, store::OperatorRecord> by_hash_;
};

const google::protobuf::ServiceDescriptor* Service() {
  return v1::CreateChannelRequest::descriptor()->file()->FindServiceByName("OperatorService");
}

std::string Method(const char* name) { return absl::StrCat("drover.v1.OperatorService.", name); }

// Every RPC of the operator API has a policy: one added without deciding who
// may call it fails here (and is refused to everyone until it has one).
TEST(AuthzTest, EveryOperatorRpcIsClassified) {
  const google::protobuf::ServiceDescriptor* service = Service();
  ASSERT_NE(service, nullptr);
  ASSERT_GT(service->method_count(), 0);
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* m = service->method(i);
    EXPECT_NE(FindMethodPolicy(m->full_name()), nullptr)
        << m->full_name() << " has no entry in the role table of coordinator/api/authz.cc";
  }
}

TEST(AuthzTest, EveryTrustRpcIsClassified) {
  const google::protobuf::ServiceDescriptor* service =
      v1::PublishTrustMetadataRequest::descriptor()->file()->FindServiceByName("TrustService");
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* m = service->method(i);
    EXPECT_NE(FindMethodPolicy(m->full_name()), nullptr)
        << m->full_name() << " has no entry in the role table of coordinator/api/authz.cc";
  }
  EXPECT_EQ(FindMethodPolicy("drover.v1.TrustService.PublishTrustMetadata")->min_role, Role::kAdmin);
  EXPECT_EQ(FindMethodPolicy("drover.v1.TrustService.GetTrustMetadata")->min_role, Role::kViewer);
}

TEST(AuthzTest, RoleTableMatchesTheIssue) {
  EXPECT_EQ(FindMethodPolicy(Method("GetRolloutStatus"))->min_role, Role::kViewer);
  EXPECT_FALSE(FindMethodPolicy(Method("ListAuditEvents"))->mutates);
  EXPECT_EQ(FindMethodPolicy(Method("SetTargetVersion"))->min_role, Role::kOperator);
  EXPECT_EQ(FindMethodPolicy(Method("SetCritical"))->min_role, Role::kOperator);
  EXPECT_EQ(FindMethodPolicy(Method("SetMaintenanceWindows"))->min_role, Role::kOperator);
  EXPECT_EQ(FindMethodPolicy(Method("CreateChannel"))->min_role, Role::kAdmin);
  EXPECT_EQ(FindMethodPolicy(Method("DeleteChannel"))->min_role, Role::kAdmin);
  EXPECT_EQ(FindMethodPolicy(Method("CreateOperator"))->min_role, Role::kAdmin);
  EXPECT_EQ(FindMethodPolicy(Method("RevokeOperator"))->min_role, Role::kAdmin);
  EXPECT_EQ(FindMethodPolicy(Method("CreateJoinToken"))->min_role, Role::kAdmin);
  EXPECT_EQ(FindMethodPolicy(Method("RevokeAgent"))->min_role, Role::kAdmin);
  EXPECT_EQ(FindMethodPolicy(Method("ForgetAgent"))->min_role, Role::kAdmin);
  EXPECT_TRUE(FindMethodPolicy(Method("SetTargetVersion"))->mutates);
  EXPECT_EQ(FindMethodPolicy("drover.v1.UpdaterService.GetTarget"), nullptr);
  // Host methods: no operator may call them with a token; the host
  // certificate (HostAuthenticator) decides, as for ReportStatus.
  EXPECT_EQ(FindMethodPolicy("drover.v1.UpdaterService.Sync"), nullptr);
  EXPECT_EQ(FindMethodPolicy(Method("NoSuchRpc")), nullptr);
}

class AuthorizerTest : public ::testing::Test {
 protected:
  AuthorizerTest() : clock_(absl::FromUnixSeconds(1'800'000'000)) {}

  std::string Issue(const std::string& name, const std::string& role, std::optional<absl::Time> expires = {},
                    std::optional<absl::Time> revoked = {}) {
    std::string token = *NewOperatorToken();
    store::OperatorRecord op{.name = name, .role = role, .expires_at = expires, .revoked_at = revoked};
    EXPECT_TRUE(store_.CreateOperator(op, OperatorTokenSha256Hex(token), nullptr).ok());
    return absl::StrCat("Bearer ", token);
  }

  FakeClock clock_;
  FakeOperatorStore store_;
};

TEST_F(AuthorizerTest, RolesAreEnforcedAndNameTheRoleNeeded) {
  prometheus::Registry registry;
  Authorizer authz(&store_, &clock_, /*insecure=*/false, &registry);
  const std::string viewer = Issue("vera", "viewer"), op = Issue("otto", "operator"), admin = Issue("ada", "admin");

  absl::StatusOr<Caller> c = authz.Authorize(Method("GetRolloutStatus"), nullptr, viewer, "ipv4:1.2.3.4:5");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->actor, "vera");
  EXPECT_EQ(c->peer, "ipv4:1.2.3.4:5");
  std::string who;
  EXPECT_TRUE(IsError(authz.Authorize(Method("SetTargetVersion"), nullptr, viewer, "p", &who).status(),
                      absl::StatusCode::kPermissionDenied, {"SetTargetVersion needs the operator role", "vera"}));
  EXPECT_EQ(who, "vera");  // for the audit row of the refusal
  EXPECT_TRUE(authz.Authorize(Method("SetTargetVersion"), nullptr, op, "p").ok());
  EXPECT_TRUE(IsError(authz.Authorize(Method("DeleteChannel"), nullptr, op, "p").status(),
                      absl::StatusCode::kPermissionDenied, {"needs the admin role"}));
  EXPECT_TRUE(authz.Authorize(Method("DeleteChannel"), nullptr, admin, "p").ok());
  // Default deny: even an admin may not call a method the table lacks.
  EXPECT_TRUE(IsError(authz.Authorize(Method("NoSuchRpc"), nullptr, admin, "p").status(),
                      absl::StatusCode::kPermissionDenied, {"not open to any operator role"}));
}

TEST_F(AuthorizerTest, MissingBadUnknownExpiredAndRevokedTokensAreUnauthenticated) {
  Authorizer authz(&store_, &clock_, /*insecure=*/false, nullptr);
  const std::string expired = Issue("old", "admin", clock_.Now() - absl::Seconds(1));
  const std::string revoked = Issue("gone", "admin", std::nullopt, clock_.Now() - absl::Hours(1));
  const std::string later = Issue("later", "admin", clock_.Now() + absl::Hours(1));
  EXPECT_TRUE(IsError(authz.Authorize(Method("ListChannels"), nullptr, std::nullopt, "p").status(),
                      absl::StatusCode::kUnauthenticated, {"no operator token"}));
  EXPECT_TRUE(IsError(authz.Authorize(Method("ListChannels"), nullptr, "Basic abc", "p").status(),
                      absl::StatusCode::kUnauthenticated, {"not \"Bearer drover_op_"}));
  EXPECT_TRUE(IsError(authz.Authorize(Method("ListChannels"), nullptr, "Bearer drover_op_short", "p").status(),
                      absl::StatusCode::kUnauthenticated));
  EXPECT_TRUE(IsError(
      authz.Authorize(Method("ListChannels"), nullptr, absl::StrCat("Bearer ", *NewOperatorToken()), "p").status(),
      absl::StatusCode::kUnauthenticated, {"unknown operator token"}));
  EXPECT_TRUE(IsError(authz.Authorize(Method("ListChannels"), nullptr, expired, "p").status(),
                      absl::StatusCode::kUnauthenticated, {"\"old\" expired at"}));
  EXPECT_TRUE(IsError(authz.Authorize(Method("ListChannels"), nullptr, revoked, "p").status(),
                      absl::StatusCode::kUnauthenticated, {"\"gone\" was revoked"}));
  EXPECT_TRUE(authz.Authorize(Method("ListChannels"), nullptr, later, "p").ok());
  clock_.Advance(absl::Hours(1));
  EXPECT_TRUE(IsError(authz.Authorize(Method("ListChannels"), nullptr, later, "p").status(),
                      absl::StatusCode::kUnauthenticated, {"expired"}));
  store_.down = true;
  EXPECT_TRUE(IsError(authz.Authorize(Method("ListChannels"), nullptr, later, "p").status(),
                      absl::StatusCode::kUnavailable));
}

TEST_F(AuthorizerTest, InsecureModeOnlyExcusesAMissingToken) {
  Authorizer authz(&store_, &clock_, /*insecure=*/true, nullptr);
  absl::StatusOr<Caller> anon = authz.Authorize(Method("DeleteChannel"), nullptr, std::nullopt, "ipv4:9.9.9.9:1");
  ASSERT_TRUE(anon.ok()) << anon.status();
  EXPECT_EQ(anon->actor, "anonymous");
  EXPECT_EQ(anon->role, Role::kAdmin);
  EXPECT_EQ(anon->peer, "ipv4:9.9.9.9:1");
  const std::string viewer = Issue("vera", "viewer");
  EXPECT_TRUE(IsError(authz.Authorize(Method("SetCritical"), nullptr, viewer, "p").status(),
                      absl::StatusCode::kPermissionDenied, {"needs the operator role"}));
  EXPECT_TRUE(IsError(
      authz.Authorize(Method("ListChannels"), nullptr, absl::StrCat("Bearer ", *NewOperatorToken()), "p").status(),
      absl::StatusCode::kUnauthenticated));
}

TEST_F(AuthorizerTest, AHostIdentityCallsNoOperatorRpcEvenWithAToken) {
  prometheus::Registry registry;
  Authorizer authz(&store_, &clock_, /*insecure=*/true, &registry);
  const std::string admin = Issue("ada", "admin");
  FakeAuthContext host(FakeAuthContext::Properties{{"x509_subject_alternative_name", "spiffe://fleet.example/host/3f2a"},
                        {"x509_common_name", "3f2a"}});
  for (const char* method : {"ListChannels", "SetTargetVersion", "DeleteChannel"}) {
    EXPECT_TRUE(IsError(authz.Authorize(Method(method), &host, admin, "p").status(), absl::StatusCode::kPermissionDenied,
                        {"host identity", "spiffe://fleet.example/host/3f2a"}))
        << method;
    EXPECT_TRUE(IsError(authz.Authorize(Method(method), &host, std::nullopt, "p").status(),
                        absl::StatusCode::kPermissionDenied, {"host identity"}));
  }
  // Newer gRPC names the SPIFFE id on its own.
  FakeAuthContext spiffe(FakeAuthContext::Properties{{"peer_spiffe_id", "spiffe://f/host/h1"}});
  EXPECT_TRUE(IsError(authz.Authorize(Method("ListChannels"), &spiffe, admin, "p").status(),
                      absl::StatusCode::kPermissionDenied));
  // Other certificates (an operator's, a DNS name) and unauthenticated TLS peers are not hosts.
  FakeAuthContext other(FakeAuthContext::Properties{{"x509_subject_alternative_name", "spiffe://fleet.example/operator/ada"},
                         {"x509_subject_alternative_name", "coordinator.example"}});
  EXPECT_TRUE(authz.Authorize(Method("ListChannels"), &other, admin, "p").ok());
  FakeAuthContext unverified(FakeAuthContext::Properties{{"x509_subject_alternative_name", "spiffe://f/host/h1"}}, /*authenticated=*/false);
  EXPECT_TRUE(authz.Authorize(Method("ListChannels"), &unverified, admin, "p").ok());
  // Counted.
  bool counted = false;
  for (const auto& family : registry.Collect()) {
    if (family.name != "drover_operator_auth_refusals_total") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.value == "host_identity") {
          EXPECT_EQ(metric.counter.value, 7);
          counted = true;
        }
      }
    }
  }
  EXPECT_TRUE(counted);
}

TEST(OperatorTokenTest, TokensAreRandomPrefixedAndHashedStably) {
  const std::string a = *NewOperatorToken(), b = *NewOperatorToken();
  EXPECT_NE(a, b);
  EXPECT_TRUE(LooksLikeOperatorToken(a)) << a;
  EXPECT_EQ(a.size(), std::string(kOperatorTokenPrefix).size() + 43);
  EXPECT_FALSE(LooksLikeOperatorToken(absl::StrCat(a, "x")));
  EXPECT_FALSE(LooksLikeOperatorToken(a.substr(1)));
  EXPECT_EQ(OperatorTokenSha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(OperatorTokenSha256Hex(a), OperatorTokenSha256Hex(a));
}

TEST(OperatorNameTest, NamesAreChecked) {
  EXPECT_TRUE(ValidateOperatorName("alice@example.com").ok());
  EXPECT_TRUE(IsError(ValidateOperatorName(""), absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(IsError(ValidateOperatorName("a b"), absl::StatusCode::kInvalidArgument, {"a b"}));
  EXPECT_TRUE(IsError(ValidateOperatorName("anonymous"), absl::StatusCode::kInvalidArgument, {"reserved"}));
  EXPECT_TRUE(IsError(ValidateOperatorName(std::string(65, 'a')), absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace drover::api
