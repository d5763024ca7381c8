// gRPC transport of drover.v1.TrustService: publish root successors and
// delegations (admin), show key ids and expiries (viewer). Synchronous
// handlers: both are rare operator calls that read the database.
#pragma once

#include "coordinator/api/rpc_log.h"
#include "coordinator/api/target_signer.h"
#include "coordinator/store/metadata_store.h"
#include "drover/v1/trust_service.grpc.pb.h"

namespace drover::api {

class TrustService final : public v1::TrustService::Service {
 public:
  // `signer` may be null (no targets key configured): every call is then
  // FAILED_PRECONDITION saying so.
  TrustService(TargetSigner* signer, store::MetadataStore* store, RpcLog* log)
      : signer_(signer), store_(store), log_(log) {}

  grpc::Status PublishTrustMetadata(grpc::ServerContext* context, const v1::PublishTrustMetadataRequest* request,
                                    v1::TrustMetadata* response) override;
  grpc::Status GetTrustMetadata(grpc::ServerContext* context, const v1::GetTrustMetadataRequest* request,
                                v1::TrustMetadata* response) override;

 private:
  absl::Status Describe(v1::TrustMetadata* out);

  TargetSigner* const signer_;
  store::MetadataStore* const store_;
  RpcLog* const log_;
};

}  // namespace drover::api
