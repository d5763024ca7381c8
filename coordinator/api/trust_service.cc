#include "coordinator/api/trust_service.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/api/proto_convert.h"
#include "proto/wire/time.h"

namespace drover::api {
namespace {

absl::Status NoSigner() {
  return absl::FailedPreconditionError(
      "this coordinator signs no target metadata: start it with --targets_key_file and --root_public_key_file");
}

}  // namespace

absl::Status TrustService::Describe(v1::TrustMetadata* out) {
  out->set_pinned_root_key_id(signer_->pinned_root().key_id);
  out->set_serving_targets_key_id(signer_->key_id());
  absl::StatusOr<std::vector<store::RootRecord>> roots = store_->ListRoots();
  if (!roots.ok()) return roots.status();
  for (const store::RootRecord& r : *roots) {
    v1::SignedEnvelope e;
    v1::RootMetadata m;
    if (!e.ParseFromString(r.envelope) || !m.ParseFromString(e.payload())) continue;
    v1::TrustMetadata::Key* k = out->add_roots();
    k->set_key_id(r.key_id);
    k->set_version(r.version);
    k->set_signed_by(m.previous_key_id());
    wire::TimeToProto(r.published_at, k->mutable_published());
  }
  absl::StatusOr<std::vector<store::DelegationRecord>> delegations = store_->ListDelegations();
  if (!delegations.ok()) return delegations.status();
  for (const store::DelegationRecord& d : *delegations) {
    v1::TrustMetadata::Key* k = out->add_delegations();
    k->set_key_id(d.targets_key_id);
    k->set_version(d.version);
    k->set_signed_by(d.root_key_id);
    wire::TimeToProto(d.expires_at, k->mutable_expires());
    wire::TimeToProto(d.published_at, k->mutable_published());
  }
  return absl::OkStatus();
}

absl::Status TrustService::Authorize(grpc::ServerContext* context, const char* method, std::string* actor) {
  if (authz_ == nullptr) return absl::OkStatus();
  std::optional<absl::string_view> authorization;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  const std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  absl::StatusOr<Caller> caller =
      authz_->Authorize(absl::StrCat("drover.v1.TrustService.", method), auth.get(), authorization, context->peer(),
                        actor);
  return caller.status();
}

grpc::Status TrustService::PublishTrustMetadata(grpc::ServerContext* context,
                                                const v1::PublishTrustMetadataRequest* request,
                                                v1::TrustMetadata* response) {
  std::string actor;
  const std::string new_value =
      absl::StrCat(request->roots_size(), " root(s)", request->has_delegation() ? ", a delegation" : "");
  bool published = false;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status s = Authorize(context, "PublishTrustMetadata", &actor); !s.ok()) return s;
    if (signer_ == nullptr) return NoSigner();
    if (request->roots().empty() && !request->has_delegation()) {
      return absl::InvalidArgumentError("nothing to publish: give roots, a delegation or both");
    }
    // The audit row commits with the publication (the store fills in what
    // was published and what it replaced).
    store::AuditRecord record{.actor = actor,
                              .peer = context->peer(),
                              .method = "drover.v1.TrustService.PublishTrustMetadata",
                              .new_value = new_value};
    if (absl::Status s = signer_->Publish(request->roots(), request->has_delegation() ? &request->delegation() : nullptr,
                                          audit_ != nullptr ? &record : nullptr);
        !s.ok()) {
      return s;
    }
    published = true;
    LogInfo(absl::StrCat("trust metadata published by ", context->peer(), ": ", request->roots_size(),
                         " root(s)", request->has_delegation() ? " and a delegation" : ""));
    return Describe(response);
  }();
  if (!status.ok()) log_->Failed("drover.v1.TrustService/PublishTrustMetadata", status, context->peer());
  if (!status.ok() && !published && audit_ != nullptr &&
      (refusal_audit_ == nullptr || refusal_audit_->Admit(context->peer()))) {
    // A refusal changed nothing: its row stands alone.
    store::AuditRecord record{.actor = actor,
                              .peer = context->peer(),
                              .method = "drover.v1.TrustService.PublishTrustMetadata",
                              .object = "trust",
                              .new_value = new_value,
                              .ok = false,
                              .reason = absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message())};
    if (absl::Status s = audit_->RecordAudit(record); !s.ok()) {
      LogError(absl::StrCat("could not record refused PublishTrustMetadata by \"", actor, "\" from ", context->peer(),
                            " in the audit trail: ", s.message()));
    }
  }
  return ToGrpcStatus(status);
}

grpc::Status TrustService::GetTrustMetadata(grpc::ServerContext* context, const v1::GetTrustMetadataRequest*,
                                            v1::TrustMetadata* response) {
  std::string actor;
  absl::Status status = Authorize(context, "GetTrustMetadata", &actor);
  if (status.ok()) status = signer_ == nullptr ? NoSigner() : Describe(response);
  if (!status.ok()) log_->Failed("drover.v1.TrustService/GetTrustMetadata", status, context->peer());
  return ToGrpcStatus(status);
}

}  // namespace drover::api
