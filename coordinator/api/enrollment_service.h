// gRPC transport of drover.v1.EnrollmentService: join token + CSR -> host
// certificate, and renewal with the current certificate. The CA signs; the
// store records (and refuses used, expired and revoked credentials).
#pragma once

#include <string>

#include "common/clock.h"
#include "coordinator/api/host_identity.h"
#include "coordinator/api/refusal_audit.h"
#include "coordinator/api/rpc_log.h"
#include "coordinator/store/audit_store.h"
#include "coordinator/store/identity_store.h"
#include "drover/v1/enrollment_service.grpc.pb.h"
#include "common/pki/pki.h"

namespace drover::api {

struct EnrollmentOptions {
  std::string fleet;
  absl::Duration certificate_validity = absl::Hours(24 * 30);
};

class EnrollmentService final : public v1::EnrollmentService::Service {
 public:
  // `audit` (may be null): where refusals are recorded; an enrolment or
  // renewal records its row in the transaction that stores the certificate.
  EnrollmentService(store::IdentityStore* store, const pki::CertificateAuthority* ca, HostAuthenticator* hosts,
                    const Clock* clock, EnrollmentOptions options, RpcLog* log, store::AuditStore* audit = nullptr)
      : store_(store),
        ca_(ca),
        hosts_(hosts),
        clock_(clock),
        options_(std::move(options)),
        log_(log),
        audit_(audit) {}

  grpc::Status Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                      v1::EnrollResponse* response) override;
  grpc::Status Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
                     v1::RenewResponse* response) override;

  // Refusals get audit rows only as far as `gate` admits them (before serving).
  void set_refusal_audit(RefusalAuditGate* gate) { refusal_audit_ = gate; }

 private:
  // `record` is the attempt's audit row: written as a refusal unless the
  // store wrote it with the change (`stored`).
  grpc::Status Answer(grpc::ServerContext* context, absl::string_view method, const absl::Status& status,
                      const store::AuditRecord& record, bool stored);

  store::IdentityStore* const store_;
  const pki::CertificateAuthority* const ca_;
  HostAuthenticator* const hosts_;
  const Clock* const clock_;
  const EnrollmentOptions options_;
  RpcLog* const log_;
  RefusalAuditGate* refusal_audit_ = nullptr;
  store::AuditStore* const audit_;
};

}  // namespace drover::api
