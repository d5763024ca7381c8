// Retention: how long history is kept, and the time partitions that let it go
// by dropping whole partitions instead of deleting rows (no bloat, no vacuum
// debt, constant cost however much is dropped).
//
// update_events is partitioned by day and kept 90 days by default;
// audit_events by month and kept 400 days. Partitions are created ahead of
// need (a week, two months), so that a coordinator down for a while does
// not leave inserts without a partition; rows that still find none land in
// the table's default partition and are moved into their own partition when
// it is created (store: PgStore::MaintainPartitions).
//
// Agents not seen for --forget_agents_after (30 days by default) are
// forgotten like `droverctl agents forget` does, and audited.
//
// Everything here is UTC and pure: the store executes what PlanPartitions
// decides.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace drover::rollout {

enum class PartitionPeriod { kDay, kMonth };

// One partition's bounds, [from, to), aligned to its period in UTC.
struct PartitionRange {
  absl::Time from;
  absl::Time to;
  bool operator==(const PartitionRange& o) const { return from == o.from && to == o.to; }
};

struct RetentionPolicy {
  PartitionPeriod period = PartitionPeriod::kDay;
  // Periods created after the current one.
  int ahead = 7;
  // Rows older than this may go; a partition is dropped once all of it is.
  // Zero: kept for ever.
  absl::Duration keep = absl::ZeroDuration();
};

// The defaults of the two partitioned tables.
RetentionPolicy UpdateEventsRetention(absl::Duration keep);
RetentionPolicy AuditEventsRetention(absl::Duration keep);
inline constexpr absl::Duration kDefaultEventRetention = absl::Hours(24 * 90);
inline constexpr absl::Duration kDefaultAuditRetention = absl::Hours(24 * 400);
inline constexpr absl::Duration kDefaultForgetAgentsAfter = absl::Hours(24 * 30);
// The largest value any of the three takes (100 years); zero means never.
inline constexpr absl::Duration kMaxRetention = absl::Hours(24 * 36525);

// Checks a retention flag: zero (never) or between one period of the table
// and kMaxRetention. The error names the flag and the value.
absl::Status ValidateRetention(absl::string_view flag, absl::Duration keep, PartitionPeriod period);
// --forget_agents_after: zero (never) or 1 day .. kMaxRetention. Shorter
// would forget hosts that are merely switched off for a weekend's fault.
absl::Status ValidateForgetAfter(absl::string_view flag, absl::Duration after);

// The period holding `t`.
PartitionRange PeriodOf(absl::Time t, PartitionPeriod period);
// The period right after `r`.
PartitionRange NextPeriod(const PartitionRange& r, PartitionPeriod period);

// "update_events_p20261207" (days), "audit_events_p202612" (months).
std::string PartitionName(absl::string_view table, const PartitionRange& r, PartitionPeriod period);

struct PartitionPlan {
  // Oldest first: periods missed since the newest partition (not those past
  // the retention), the current one, and policy.ahead after it. Periods
  // that overlap an existing partition are skipped (one made by hand, or
  // with another period): never an overlap error.
  std::vector<PartitionRange> create;
  // Partitions entirely older than now - keep, oldest first. Never one that
  // reaches into the current period.
  std::vector<PartitionRange> drop;
};

// What to create and drop, given the table's existing partitions (not its
// default partition).
PartitionPlan PlanPartitions(const std::vector<PartitionRange>& existing, absl::Time now,
                             const RetentionPolicy& policy);

// Agents last seen before this are forgotten; absl::InfinitePast() when
// `after` is zero (never).
absl::Time ForgetAgentsCutoff(absl::Time now, absl::Duration after);

}  // namespace drover::rollout
