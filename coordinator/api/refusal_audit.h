// Refused calls leave audit rows of their own, and a caller without any
// credentials can be refused as fast as it can send: unbounded, those rows
// would fill the database. The rows of refusals are limited per peer address
// (not per connection: the port changes with every connection); the ones past
// the limit are still refused and logged (rate-limited), counted in
// drover_audit_refusals_dropped_total, not written.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "common/rate_limiter.h"

namespace drover::api {

class RefusalAuditGate {
 public:
  RefusalAuditGate(RateLimit per_peer, const Clock* clock, prometheus::Registry& registry);

  // Whether the refusal of a call from `grpc_peer` gets its audit row.
  bool Admit(absl::string_view grpc_peer);

 private:
  KeyedRateLimiter limiter_;
  prometheus::Counter& dropped_;
};

}  // namespace drover::api
