// Staged rollouts between the API's messages (drover/v1/rollout.proto) and
// the domain (coordinator/rollout/staged.h).
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/rollout/staged.h"
#include "coordinator/store/rollout_store.h"
#include "drover/v1/rollout.pb.h"

namespace drover::api {

// Every field is required except groups (none: one group of every host)
// and windows; an absent or zero field takes the default of
// rollout::RolloutPolicy, so a client that sets only what it cares about
// gets the defaults for the rest. InvalidArgument naming the field
// ("policy.canaries: ...") for a bad value, then RolloutPolicy::Validate.
absl::StatusOr<rollout::RolloutPolicy> PolicyFromProto(const v1::RolloutPolicy& in);
void PolicyToProto(const rollout::RolloutPolicy& policy, v1::RolloutPolicy* out);

void RolloutToProto(const store::RolloutStatusView& view, bool critical, absl::Time now, v1::Rollout* out);

// "pause", "resume", "halt", "rollback", "start-group", "mark-done",
// "skip-canaries": InvalidArgument naming the value otherwise.
absl::StatusOr<rollout::OperatorAction> ParseOperatorAction(absl::string_view action);

}  // namespace drover::api
