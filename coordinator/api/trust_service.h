// gRPC transport of drover.v1.TrustService: publish root successors and
// delegations (admin), show key ids and expiries (viewer). Synchronous
// handlers: both are rare operator calls that read the database.
#pragma once

#include "coordinator/api/authz.h"
#include "coordinator/api/refusal_audit.h"
#include "coordinator/api/rpc_log.h"
#include "coordinator/api/target_signer.h"
#include "coordinator/store/audit_store.h"
#include "coordinator/store/metadata_store.h"
#include "drover/v1/trust_service.grpc.pb.h"

namespace drover::api {

class TrustService final : public v1::TrustService::Service {
 public:
  // `signer` may be null (no targets key configured): every call is then
  // FAILED_PRECONDITION saying so. Every call is authorized by `authz` (the
  // operator API's role table); publishing, and refusals of it, go to
  // `audit`. Both may be null only in tests of the transport.
  TrustService(TargetSigner* signer, store::MetadataStore* store, RpcLog* log, Authorizer* authz = nullptr,
               store::AuditStore* audit = nullptr)
      : signer_(signer), store_(store), log_(log), authz_(authz), audit_(audit) {}

  grpc::Status PublishTrustMetadata(grpc::ServerContext* context, const v1::PublishTrustMetadataRequest* request,
                                    v1::TrustMetadata* response) override;
  grpc::Status GetTrustMetadata(grpc::ServerContext* context, const v1::GetTrustMetadataRequest* request,
                                v1::TrustMetadata* response) override;

  // Refusals get audit rows only as far as `gate` admits them (before serving).
  void set_refusal_audit(RefusalAuditGate* gate) { refusal_audit_ = gate; }

 private:
  absl::Status Describe(v1::TrustMetadata* out);
  // The caller's name ("" until known) and whether `method` may be called.
  absl::Status Authorize(grpc::ServerContext* context, const char* method, std::string* actor);

  TargetSigner* const signer_;
  store::MetadataStore* const store_;
  RpcLog* const log_;
  RefusalAuditGate* refusal_audit_ = nullptr;
  Authorizer* const authz_;
  store::AuditStore* const audit_;
};

}  // namespace drover::api
