// What the PgStore files share of staged rollouts (pg_rollouts.cc): the
// channel edit that sets or clears a target (pg_channels.cc) starts or ends
// a rollout in its own transaction.
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/rollout/model.h"
#include "coordinator/rollout/staged.h"

namespace drover::store {

// The channel's own policy, or the defaults when it has none. Does not check
// that the channel exists. DataLoss when a stored value does not parse.
absl::StatusOr<rollout::RolloutPolicy> ReadRolloutPolicy(pqxx::transaction_base& tx, const std::string& channel);

// In the transaction of a channel edit, after channel_update wrote `after`
// (the row is locked): a change with starts_rollout starts a rollout to the
// new target (rollout::StartRollout, the channel's policy) and supersedes
// the live one it replaces; a target cleared supersedes the live rollout and
// lets every host have the (empty) target. Returns the channel as it now
// is, its rollout columns included; `after` when the edit touches neither.
absl::StatusOr<rollout::Channel> ApplyRolloutChanges(pqxx::transaction_base& tx, const rollout::Channel& before,
                                                     const rollout::Channel& after,
                                                     const std::vector<rollout::ChannelChange>& changes,
                                                     absl::Time now);

}  // namespace drover::store
