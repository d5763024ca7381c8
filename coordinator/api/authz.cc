#include "coordinator/api/authz.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "coordinator/api/operator_token.h"

namespace drover::api {
namespace {

constexpr char kService[] = "drover.v1.OperatorService.";

// Every OperatorService RPC and the least role that may call it. Reads are
// viewer; steering a rollout is operator; what changes who or what is
// trusted (channels, tokens, keys, hosts) is admin.
const absl::flat_hash_map<std::string, MethodPolicy>& Policies() {
  static const auto* const kPolicies = [] {
    const std::pair<const char*, MethodPolicy> table[] = {
        {"ListChannels", {Role::kViewer, false}},
        {"GetChannel", {Role::kViewer, false}},
        {"GetRolloutStatus", {Role::kViewer, false}},
        {"GetRollout", {Role::kViewer, false}},
        {"GetRolloutPolicy", {Role::kViewer, false}},
        {"ListAgents", {Role::kViewer, false}},
        {"GetAgent", {Role::kViewer, false}},
        {"ListUpdateEvents", {Role::kViewer, false}},
        {"ListChannelChanges", {Role::kViewer, false}},
        {"ListAuditEvents", {Role::kViewer, false}},
        {"SetTargetVersion", {Role::kOperator, true}},
        {"SetCritical", {Role::kOperator, true}},
        {"SetMaintenanceWindows", {Role::kOperator, true}},
        // The control-plane version bounds which targets are allowed; the
        // issue's attack lowered it to walk a channel down. Still a rollout
        // setting an operator changes when Auth/Proxy is upgraded, and every
        // change is audited, so operator.
        {"SetControlPlaneVersion", {Role::kOperator, true}},
        {"SetPollInterval", {Role::kOperator, true}},
        // Pausing, halting, rolling back a rollout, and how rollouts go
        // (groups, canaries, budgets): steering rollouts, like targets.
        {"ControlRollout", {Role::kOperator, true}},
        {"SetRolloutPolicy", {Role::kOperator, true}},
        {"CreateChannel", {Role::kAdmin, true}},
        {"DeleteChannel", {Role::kAdmin, true}},
        {"CreateOperator", {Role::kAdmin, true}},
        {"ListOperators", {Role::kAdmin, false}},
        {"RevokeOperator", {Role::kAdmin, true}},
        {"ForgetAgent", {Role::kAdmin, true}},
        {"CreateJoinToken", {Role::kAdmin, true}},
        {"RevokeAgent", {Role::kAdmin, true}},
    };
    auto* m = new absl::flat_hash_map<std::string, MethodPolicy>();
    for (const auto& [name, policy] : table) m->emplace(absl::StrCat(kService, name), policy);
    // drover.v1.TrustService (signed target metadata): keys are admin's.
    m->emplace("drover.v1.TrustService.PublishTrustMetadata", MethodPolicy{Role::kAdmin, true});
    m->emplace("drover.v1.TrustService.GetTrustMetadata", MethodPolicy{Role::kViewer, false});
    return m;
  }();
  return *kPolicies;
}

// SAN properties gRPC may put a URI SAN under, depending on its version.
constexpr const char* kUriProperties[] = {"x509_subject_alternative_name", "peer_spiffe_id", "x509_uri",
                                          "peer_uri"};

}  // namespace

absl::Status ValidateOperatorName(const std::string& name) {
  if (name.empty() || name.size() > kMaxOperatorNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("name \"", absl::CHexEscape(name), "\" must be 1..",
                                                   kMaxOperatorNameLength, " characters"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' && c != '@') {
      return absl::InvalidArgumentError(absl::StrCat("name \"", absl::CHexEscape(name),
                                                     "\" may hold only letters, digits and \"-._@\""));
    }
  }
  if (name == kAnonymousActor) {
    return absl::InvalidArgumentError("name \"anonymous\" is reserved for calls without a token");
  }
  return absl::OkStatus();
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(absl::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "operator") return Role::kOperator;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

const MethodPolicy* FindMethodPolicy(absl::string_view full_method) {
  auto it = Policies().find(full_method);
  return it == Policies().end() ? nullptr : &it->second;
}

std::optional<std::string> HostIdentityOf(const grpc::AuthContext* auth) {
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return std::nullopt;
  for (const char* property : kUriProperties) {
    for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
      absl::string_view v(value.data(), value.size());
      absl::string_view rest = v;
      if (!absl::ConsumePrefix(&rest, "spiffe://")) continue;
      const size_t slash = rest.find('/');
      if (slash == absl::string_view::npos || slash == 0) continue;
      if (absl::StartsWith(rest.substr(slash), "/host/")) return std::string(v);
    }
  }
  return std::nullopt;
}

Authorizer::Authorizer(store::OperatorStore* operators, const Clock* clock, bool insecure,
                       prometheus::Registry* registry)
    : operators_(operators), clock_(clock), insecure_(insecure) {
  if (registry != nullptr) {
    auto& family = prometheus::BuildCounter()
                       .Name("drover_operator_auth_refusals_total")
                       .Help("Operator API calls refused before they ran, by reason")
                       .Register(*registry);
    unauthenticated_ = &family.Add({{"reason", "unauthenticated"}});
    permission_denied_ = &family.Add({{"reason", "permission_denied"}});
    host_identity_ = &family.Add({{"reason", "host_identity"}});
  }
}

absl::Status Authorizer::Refuse(const char* reason, absl::Status status) {
  prometheus::Counter* c = absl::string_view(reason) == "unauthenticated"     ? unauthenticated_
                           : absl::string_view(reason) == "host_identity"     ? host_identity_
                                                                             : permission_denied_;
  if (c != nullptr) c->Increment();
  return status;
}

absl::StatusOr<Caller> Authorizer::Authorize(absl::string_view full_method, const grpc::AuthContext* auth,
                                             std::optional<absl::string_view> authorization,
                                             const std::string& peer, std::string* actor) {
  if (std::optional<std::string> host = HostIdentityOf(auth); host.has_value()) {
    return Refuse("host_identity",
                  absl::PermissionDeniedError(absl::StrCat("a host identity (", *host,
                                                           ") may not call the operator API")));
  }
  const MethodPolicy* policy = FindMethodPolicy(full_method);
  Caller caller{.peer = peer};
  if (!authorization.has_value()) {
    if (!insecure_) {
      return Refuse("unauthenticated",
                    absl::UnauthenticatedError("no operator token: send \"authorization: Bearer <token>\" "
                                               "(droverctl: --token-file or DROVER_TOKEN_FILE)"));
    }
    caller.actor = kAnonymousActor;
    caller.role = Role::kAdmin;
  } else {
    absl::string_view token = *authorization;
    if (!absl::ConsumePrefix(&token, "Bearer ") || !LooksLikeOperatorToken(token)) {
      // Never echo the header: it may be a secret sent by mistake.
      return Refuse("unauthenticated", absl::UnauthenticatedError(
                                           "the authorization metadata is not \"Bearer drover_op_...\""));
    }
    absl::StatusOr<store::OperatorRecord> op = operators_->FindOperatorByTokenHash(OperatorTokenSha256Hex(token));
    if (!op.ok()) {
      if (op.status().code() != absl::StatusCode::kNotFound) return op.status();
      return Refuse("unauthenticated", absl::UnauthenticatedError("unknown operator token"));
    }
    if (actor != nullptr) *actor = op->name;
    if (op->revoked_at.has_value()) {
      return Refuse("unauthenticated",
                    absl::UnauthenticatedError(absl::StrCat("the token of operator \"", op->name, "\" was revoked")));
    }
    if (op->expires_at.has_value() && *op->expires_at <= clock_->Now()) {
      return Refuse("unauthenticated",
                    absl::UnauthenticatedError(absl::StrCat(
                        "the token of operator \"", op->name, "\" expired at ",
                        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *op->expires_at, absl::UTCTimeZone()))));
    }
    std::optional<Role> role = ParseRole(op->role);
    if (!role.has_value()) {
      return Refuse("unauthenticated", absl::UnauthenticatedError(absl::StrCat(
                                           "operator \"", op->name, "\" has an unknown role")));
    }
    caller.actor = op->name;
    caller.role = *role;
  }
  if (actor != nullptr) *actor = caller.actor;
  if (policy == nullptr) {
    return Refuse("permission_denied", absl::PermissionDeniedError(absl::StrCat(
                                           full_method, " is not open to any operator role")));
  }
  if (static_cast<int>(caller.role) < static_cast<int>(policy->min_role)) {
    return Refuse("permission_denied",
                  absl::PermissionDeniedError(absl::StrCat(
                      full_method.substr(full_method.rfind('.') + 1), " needs the ", RoleName(policy->min_role),
                      " role; operator \"", caller.actor, "\" is ", RoleName(caller.role))));
  }
  return caller;
}

}  // namespace drover::api
