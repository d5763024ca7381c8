// Who may call which operator RPC (issue 14).
//
// Operators authenticate with a bearer token the coordinator issued
// (`authorization: Bearer drover_op_...`); the store keeps its SHA-256, name,
// role, expiry and revocation. Roles, each including the ones below:
//   viewer    every read RPC
//   operator  steers rollouts: targets, critical, windows, control-plane
//             version, poll interval (what a release engineer does daily)
//   admin     channels (create, delete), operator tokens, and whatever the
//             other trust parts add: join tokens, revocation, keys, forget
// kOperatorMethodPolicies below says which RPC needs which role. A method
// missing from it is refused to everyone (default deny); authz_test walks
// the service descriptor so a new RPC cannot be forgotten.
//
// A peer that presents a host certificate (URI SAN spiffe://<fleet>/host/<id>)
// calls no operator RPC at all, token or not.
//
// --insecure (only): a call without a token acts as admin, actor
// "anonymous". A token, when sent, is checked in both modes.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include <grpcpp/security/auth_context.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "coordinator/store/audit_store.h"

namespace drover::api {

enum class Role { kViewer = 1, kOperator = 2, kAdmin = 3 };

const char* RoleName(Role role);  // "viewer", "operator", "admin"
std::optional<Role> ParseRole(absl::string_view name);

struct MethodPolicy {
  Role min_role;
  // Writes something: its calls, refused ones too, go to the audit trail.
  bool mutates;
};

// The policy of a full method name ("drover.v1.OperatorService.SetCritical"),
// or null: no one may call it.
const MethodPolicy* FindMethodPolicy(absl::string_view full_method);

// The URI SAN naming a fleet host ("spiffe://<fleet>/host/<id>") in the
// peer's verified certificate, if it presents one.
std::optional<std::string> HostIdentityOf(const grpc::AuthContext* auth);

inline constexpr char kAnonymousActor[] = "anonymous";
inline constexpr size_t kMaxOperatorNameLength = 64;

// 1..64 letters, digits and "-._@"; not kAnonymousActor.
absl::Status ValidateOperatorName(const std::string& name);

// The authenticated caller of one RPC.
struct Caller {
  std::string actor;  // operator name, or kAnonymousActor
  Role role = Role::kViewer;
  std::string peer;
};

class Authorizer {
 public:
  // `registry` (may be null) gets drover_operator_auth_refusals_total{reason}.
  Authorizer(store::OperatorStore* operators, const Clock* clock, bool insecure,
             prometheus::Registry* registry);

  // `authorization`: the request's "authorization" metadata, if any.
  // UNAUTHENTICATED: no token (unless insecure), malformed, unknown, expired or
  // revoked; PERMISSION_DENIED: role too low (naming the role needed), a host
  // identity, or a method not in the table; UNAVAILABLE: store down.
  // `actor` (optional) gets the caller's name once known, refused or not,
  // for the audit trail.
  absl::StatusOr<Caller> Authorize(absl::string_view full_method, const grpc::AuthContext* auth,
                                   std::optional<absl::string_view> authorization, const std::string& peer,
                                   std::string* actor = nullptr);

  bool insecure() const { return insecure_; }

 private:
  absl::Status Refuse(const char* reason, absl::Status status);

  store::OperatorStore* const operators_;
  const Clock* const clock_;
  const bool insecure_;
  prometheus::Counter* unauthenticated_ = nullptr;
  prometheus::Counter* permission_denied_ = nullptr;
  prometheus::Counter* host_identity_ = nullptr;
};

}  // namespace drover::api
