#include "coordinator/api/enrollment_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/api/proto_convert.h"
#include "proto/wire/time.h"

namespace drover::api {
namespace {

// A CSR of any sane key fits in a few KiB.
constexpr size_t kMaxCsrBytes = 16 * 1024;
constexpr absl::string_view kTokenPrefix = "drover-join-";

absl::Status ValidateCsr(const std::string& csr) {
  if (csr.empty()) return absl::InvalidArgumentError("csr_pem is required");
  if (csr.size() > kMaxCsrBytes) {
    return absl::InvalidArgumentError(absl::StrCat("csr_pem of ", csr.size(), " bytes is larger than ", kMaxCsrBytes));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status EnrollmentService::Answer(grpc::ServerContext* context, absl::string_view method,
                                       const absl::Status& status, const store::AuditRecord& record, bool stored) {
  if (!status.ok()) log_->Failed(absl::StrCat("drover.v1.EnrollmentService/", method), status, context->peer());
  if (!status.ok() && !stored && audit_ != nullptr &&
      (refusal_audit_ == nullptr || refusal_audit_->Admit(context->peer()))) {
    // A refusal changed nothing: its row stands alone.
    store::AuditRecord refused = record;
    refused.ok = false;
    refused.reason = absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
    if (absl::Status s = audit_->RecordAudit(refused); !s.ok()) {
      LogError(absl::StrCat("could not record refused ", record.method, " from ", context->peer(),
                            " in the audit trail: ", s.message()));
    }
  }
  return ToGrpcStatus(status);
}

grpc::Status EnrollmentService::Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                                       v1::EnrollResponse* response) {
  // Not authenticated until the token is used: the actor is the host the
  // token holder names (the object says which host was asked for).
  store::AuditRecord record{.peer = context->peer(),
                            .method = "drover.v1.EnrollmentService.Enroll",
                            .object = absl::StrCat("hosts/", absl::CHexEscape(request->host_id().substr(0, 300)))};
  bool stored = false;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status s = ValidateHostId("host_id", request->host_id()); !s.ok()) return s;
    if (absl::Status s = ValidateCsr(request->csr_pem()); !s.ok()) return s;
    // The token itself is never echoed: it is a secret.
    if (!absl::StartsWith(request->join_token(), kTokenPrefix)) {
      return absl::InvalidArgumentError("join_token is not a Drover join token (they start with \"drover-join-\")");
    }
    const std::string hash = pki::Sha256Hex(request->join_token());
    const absl::Time now = clock_->Now();
    absl::StatusOr<std::string> channel = store_->PeekJoinToken(hash, now);
    if (!channel.ok()) return channel.status();
    absl::StatusOr<pki::IssuedCertificate> cert = ca_->IssueHostCertificate(
        request->csr_pem(), options_.fleet, request->host_id(), *channel, options_.certificate_validity, now);
    if (!cert.ok()) return cert.status();
    // Recorded (and the token used) before the certificate leaves: one that
    // lost a race for the token is never handed out.
    record.actor = absl::StrCat("host:", request->host_id());
    if (absl::Status s = store_->EnrollHost(hash, {cert->serial_hex, request->host_id(), *channel, now,
                                                   cert->not_after, ""},
                                            now, audit_ != nullptr ? &record : nullptr);
        !s.ok()) {
      return s;
    }
    stored = true;
    LogInfo(absl::StrCat("host \"", request->host_id(), "\" enrolled for channel \"", *channel, "\" (certificate ",
                         cert->serial_hex, ") from ", context->peer()));
    response->set_certificate_chain_pem(cert->cert_pem + ca_->cert_pem());
    response->set_channel(*channel);
    wire::TimeToProto(cert->not_after, response->mutable_expire_time());
    return absl::OkStatus();
  }();
  return Answer(context, "Enroll", status, record, stored);
}

grpc::Status EnrollmentService::Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
                                      v1::RenewResponse* response) {
  store::AuditRecord record{.peer = context->peer(), .method = "drover.v1.EnrollmentService.Renew"};
  bool stored = false;
  absl::Status status = [&]() -> absl::Status {
    RefusalReason reason;
    absl::StatusOr<PeerHost> peer = hosts_->Authenticate(*context, &reason);
    if (!peer.ok()) {
      hosts_->CountRefused(reason);
      return peer.status();
    }
    record.actor = absl::StrCat("host:", peer->host_id);
    record.object = absl::StrCat("hosts/", peer->host_id);
    if (absl::Status s = ValidateCsr(request->csr_pem()); !s.ok()) return s;
    const absl::Time now = clock_->Now();
    absl::StatusOr<pki::IssuedCertificate> cert = ca_->IssueHostCertificate(
        request->csr_pem(), options_.fleet, peer->host_id, peer->channel, options_.certificate_validity, now);
    if (!cert.ok()) return cert.status();
    absl::Status recorded = store_->RenewHostCertificate(
        {cert->serial_hex, peer->host_id, peer->channel, now, cert->not_after, peer->serial_hex},
        audit_ != nullptr ? &record : nullptr);
    if (!recorded.ok()) {
      // The database knows of revocations the list here has not seen yet.
      if (recorded.code() == absl::StatusCode::kPermissionDenied) hosts_->CountRefused(RefusalReason::kRevoked);
      return recorded;
    }
    stored = true;
    response->set_certificate_chain_pem(cert->cert_pem + ca_->cert_pem());
    wire::TimeToProto(cert->not_after, response->mutable_expire_time());
    return absl::OkStatus();
  }();
  return Answer(context, "Renew", status, record, stored);
}

}  // namespace drover::api
