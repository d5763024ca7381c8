// gRPC transport of drover.v1.EnrollmentService: join token + CSR -> host
// certificate, and renewal with the current certificate. The CA signs; the
// store records (and refuses used, expired and revoked credentials).
#pragma once

#include <string>

#include "common/clock.h"
#include "coordinator/api/host_identity.h"
#include "coordinator/api/rpc_log.h"
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
  EnrollmentService(store::IdentityStore* store, const pki::CertificateAuthority* ca, HostAuthenticator* hosts,
                    const Clock* clock, EnrollmentOptions options, RpcLog* log)
      : store_(store), ca_(ca), hosts_(hosts), clock_(clock), options_(std::move(options)), log_(log) {}

  grpc::Status Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                      v1::EnrollResponse* response) override;
  grpc::Status Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
                     v1::RenewResponse* response) override;

 private:
  grpc::Status Answer(grpc::ServerContext* context, absl::string_view method, const absl::Status& status);

  store::IdentityStore* const store_;
  const pki::CertificateAuthority* const ca_;
  HostAuthenticator* const hosts_;
  const Clock* const clock_;
  const EnrollmentOptions options_;
  RpcLog* const log_;
};

}  // namespace drover::api
