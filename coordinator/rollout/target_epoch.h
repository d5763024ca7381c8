// Target epochs: a channel's outcome counters restart whenever its target
// changes. These rules say when an epoch starts and which epoch a reported
// update outcome counts against. The ingest statement
// (coordinator/store/sql/ingest_round.sql) evaluates OutcomeTargetEpoch for a
// whole batch with the channel rows it locks, taking kOutcomeClockAllowance as
// a parameter; tests/integration/store_test.cc checks that the two agree.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "common/api_limits.h"
#include "coordinator/rollout/model.h"

namespace drover::rollout {

// How long before the target was set an outcome reaching for it may have
// finished by the agent's clock and still count against it: the agent clock
// may run this much slow, the skew the API allows the other way
// (common/api_limits.h), so one constant serves both. Migration 000006
// (history, not edited) recounted old channels once with this rule, the
// allowance written out there as 5 minutes.
inline constexpr absl::Duration kOutcomeClockAllowance = ::drover::kMaxClockSkew;

// The epoch a new channel starts in: 1 when it is created with a target (as
// setting that target later would start), 0 without one (no target yet: every
// outcome counts).
int64_t InitialTargetEpoch(const Channel& channel);

// Whether a channel edit that made `changes` starts a new target epoch: the
// rule that made a change says so (ChannelChange::starts_target_epoch, set by
// SetTarget), the store obeys.
bool StartsTargetEpoch(const std::vector<ChannelChange>& changes);

// The epoch `outcome`, reported for `channel` as it is now, counts against:
// the current one when the channel is in epoch 0 (no target ever) or when the
// outcome reached for the current target (to-version = target) and finished
// no earlier than kOutcomeClockAllowance before the target was set. Anything
// else is a late outcome of an earlier target (one still on its way when the
// target moved, a failure reported after a roll-back, an old attempt at a
// version that is the target again) and counts against the epoch before.
int64_t OutcomeTargetEpoch(const Channel& channel, const UpdateOutcome& outcome);

}  // namespace drover::rollout
