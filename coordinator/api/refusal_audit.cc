#include "coordinator/api/refusal_audit.h"

namespace drover::api {

RefusalAuditGate::RefusalAuditGate(RateLimit per_peer, const Clock* clock, prometheus::Registry& registry)
    : limiter_(per_peer, clock, /*max_keys=*/100'000),
      dropped_(prometheus::BuildCounter()
                   .Name("drover_audit_refusals_dropped_total")
                   .Help("Refused calls whose audit row was not written: their peer address was past "
                         "--refused_audit_rate_per_peer")
                   .Register(registry)
                   .Add({})) {}

bool RefusalAuditGate::Admit(absl::string_view grpc_peer) {
  if (limiter_.Allow(PeerAddress(grpc_peer))) return true;
  dropped_.Increment();
  return false;
}

}  // namespace drover::api
