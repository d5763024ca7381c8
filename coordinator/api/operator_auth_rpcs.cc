// OperatorService: operator tokens and the audit trail (issue 14). Apart from
// operator_service.cc so the channel RPCs read as before.
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "coordinator/api/operator_service.h"
#include "coordinator/api/operator_token.h"
#include "coordinator/api/proto_convert.h"
#include "proto/wire/time.h"

namespace drover::api {
namespace {

constexpr int64_t kMaxTokenTtlSeconds = int64_t{10} * 366 * 24 * 3600;
v1::OperatorRole RoleToProto(const std::string& role) {
  std::optional<Role> r = ParseRole(role);
  if (!r) return v1::OPERATOR_ROLE_UNSPECIFIED;
  switch (*r) {
    case Role::kViewer: return v1::OPERATOR_ROLE_VIEWER;
    case Role::kOperator: return v1::OPERATOR_ROLE_OPERATOR;
    case Role::kAdmin: return v1::OPERATOR_ROLE_ADMIN;
  }
  return v1::OPERATOR_ROLE_UNSPECIFIED;
}

void OperatorToProto(const store::OperatorRecord& op, v1::Operator* out) {
  out->set_name(op.name);
  out->set_role(RoleToProto(op.role));
  TimeToProto(op.created_at, out->mutable_create_time());
  out->set_created_by(op.created_by);
  if (op.expires_at) TimeToProto(*op.expires_at, out->mutable_expire_time());
  if (op.revoked_at) TimeToProto(*op.revoked_at, out->mutable_revoke_time());
}

void AuditToProto(const store::AuditRecord& r, v1::AuditEvent* out) {
  out->set_id(r.id);
  TimeToProto(r.at, out->mutable_time());
  out->set_actor(r.actor);
  out->set_peer(r.peer);
  out->set_method(r.method);
  out->set_object(r.object);
  out->set_old_value(r.old_value);
  out->set_new_value(r.new_value);
  out->set_result(r.ok ? v1::AUDIT_RESULT_OK : v1::AUDIT_RESULT_REFUSED);
  out->set_reason(r.reason);
}

}  // namespace

grpc::Status OperatorService::CreateOperator(grpc::ServerContextBase* context, const v1::CreateOperatorRequest* req,
                                             v1::CreateOperatorResponse* out) {
  return Done("CreateOperator", [&]() -> absl::Status {
    if (absl::Status s = ValidateOperatorName(req->name()); !s.ok()) return s;
    store::OperatorRecord op{.name = req->name()};
    switch (req->role()) {
      case v1::OPERATOR_ROLE_VIEWER: op.role = "viewer"; break;
      case v1::OPERATOR_ROLE_OPERATOR: op.role = "operator"; break;
      case v1::OPERATOR_ROLE_ADMIN: op.role = "admin"; break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("role ", static_cast<int>(req->role()),
                                                       " is not OPERATOR_ROLE_VIEWER, OPERATOR or ADMIN"));
    }
    if (req->ttl_seconds() < 0 || req->ttl_seconds() > kMaxTokenTtlSeconds) {
      return absl::InvalidArgumentError(absl::StrCat("ttl_seconds ", req->ttl_seconds(), " must be between 0 (never "
                                                     "expires) and ", kMaxTokenTtlSeconds));
    }
    if (req->ttl_seconds() > 0) op.expires_at = clock_->Now() + absl::Seconds(req->ttl_seconds());
    const store::AuditRecord audit = AuditOf(context, "CreateOperator");
    op.created_by = audit.actor;
    absl::StatusOr<std::string> token = NewOperatorToken();
    if (!token.ok()) return token.status();
    absl::StatusOr<store::OperatorRecord> created =
        operators_->CreateOperator(op, OperatorTokenSha256Hex(*token), &audit);
    if (!created.ok()) return created.status();
    OperatorToProto(*created, out->mutable_operator_());
    out->set_token(*token);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::ListOperators(grpc::ServerContextBase*, const v1::ListOperatorsRequest* req,
                                            v1::ListOperatorsResponse* out) {
  return Done("ListOperators", [&]() -> absl::Status {
    absl::StatusOr<std::vector<store::OperatorRecord>> ops = operators_->ListOperators(req->include_revoked());
    if (!ops.ok()) return ops.status();
    for (const store::OperatorRecord& op : *ops) OperatorToProto(op, out->add_operators());
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::RevokeOperator(grpc::ServerContextBase* context, const v1::RevokeOperatorRequest* req,
                                             v1::Operator* out) {
  return Done("RevokeOperator", [&]() -> absl::Status {
    if (absl::Status s = ValidateOperatorName(req->name()); !s.ok()) return s;
    const store::AuditRecord audit = AuditOf(context, "RevokeOperator");
    absl::StatusOr<store::OperatorRecord> revoked = operators_->RevokeOperator(req->name(), &audit);
    if (!revoked.ok()) return revoked.status();
    OperatorToProto(*revoked, out);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::ListAuditEvents(grpc::ServerContextBase*, const v1::ListAuditEventsRequest* req,
                                              v1::ListAuditEventsResponse* out) {
  return Done("ListAuditEvents", [&]() -> absl::Status {
    store::AuditFilter filter{.actor = req->actor(), .object = req->object(), .method = req->method()};
    for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"actor", &req->actor()},
                                       {"object", &req->object()},
                                       {"method", &req->method()}}) {
      if (absl::Status s = ValidateSingleLine(field, *value, 300); !s.ok()) return s;
    }
    switch (req->result()) {
      case v1::AUDIT_RESULT_UNSPECIFIED: break;
      case v1::AUDIT_RESULT_OK: filter.ok = true; break;
      case v1::AUDIT_RESULT_REFUSED: filter.ok = false; break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("result ", static_cast<int>(req->result()),
                                                       " is not AUDIT_RESULT_UNSPECIFIED (any), OK or REFUSED"));
    }
    if (req->has_since()) filter.since = wire::TimeFromProto(req->since());
    if (req->has_until()) filter.until = wire::TimeFromProto(req->until());
    if (filter.since && filter.until && *filter.until <= *filter.since) {
      return absl::InvalidArgumentError("until must be after since");
    }
    absl::StatusOr<int> page_size = PageSizeFromProto(req->page_size());
    if (!page_size.ok()) return page_size.status();
    const std::string filters =
        absl::StrCat(filter.actor, "\n", filter.object, "\n", filter.method, "\n", static_cast<int>(req->result()),
                     "\n", filter.since ? absl::ToUnixMicros(*filter.since) : 0, "\n",
                     filter.until ? absl::ToUnixMicros(*filter.until) : 0);
    if (!req->page_token().empty()) {
      absl::StatusOr<std::string> key = DecodePageToken("audit", filters, req->page_token());
      if (!key.ok()) return key.status();
      if (!absl::SimpleAtoi(*key, &filter.before_id) || filter.before_id <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("page_token \"", req->page_token(), "\" is damaged; start again without one"));
      }
    }
    filter.limit = *page_size + 1;
    absl::StatusOr<std::vector<store::AuditRecord>> events = audit_->ListAuditEvents(filter);
    if (!events.ok()) return events.status();
    const bool more = static_cast<int>(events->size()) > *page_size;
    if (more) events->resize(*page_size);
    for (const store::AuditRecord& e : *events) AuditToProto(e, out->add_events());
    if (more) out->set_next_page_token(EncodePageToken("audit", filters, absl::StrCat(events->back().id)));
    return absl::OkStatus();
  }());
}

}  // namespace drover::api
