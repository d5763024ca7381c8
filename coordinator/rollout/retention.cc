#include "coordinator/rollout/retention.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"

namespace drover::rollout {
namespace {

const absl::TimeZone& Utc() {
  static const absl::TimeZone utc = absl::UTCTimeZone();
  return utc;
}

// The shortest span one period can have: retention below it would drop the
// partition rows are being written to.
absl::Duration ShortestPeriod(PartitionPeriod period) {
  return period == PartitionPeriod::kDay ? absl::Hours(24) : absl::Hours(24 * 28);
}

std::string Days(absl::Duration d) {
  return absl::StrFormat("%.6g days", absl::ToDoubleHours(d) / 24);
}

}  // namespace

RetentionPolicy UpdateEventsRetention(absl::Duration keep) {
  return {.period = PartitionPeriod::kDay, .ahead = 7, .keep = keep};
}

RetentionPolicy AuditEventsRetention(absl::Duration keep) {
  return {.period = PartitionPeriod::kMonth, .ahead = 2, .keep = keep};
}

absl::Status ValidateRetention(absl::string_view flag, absl::Duration keep, PartitionPeriod period) {
  if (keep == absl::ZeroDuration()) return absl::OkStatus();
  const absl::Duration shortest = ShortestPeriod(period) * 2;
  if (keep < shortest || keep > kMaxRetention) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", absl::FormatDuration(keep), " must be 0 (keep for ever) or between ",
        absl::FormatDuration(shortest), " (two ", period == PartitionPeriod::kDay ? "daily" : "monthly",
        " partitions) and ", Days(kMaxRetention)));
  }
  return absl::OkStatus();
}

absl::Status ValidateForgetAfter(absl::string_view flag, absl::Duration after) {
  if (after == absl::ZeroDuration()) return absl::OkStatus();
  if (after < absl::Hours(24) || after > kMaxRetention) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", absl::FormatDuration(after),
                                                   " must be 0 (never) or between 24h and ", Days(kMaxRetention)));
  }
  return absl::OkStatus();
}

PartitionRange PeriodOf(absl::Time t, PartitionPeriod period) {
  if (period == PartitionPeriod::kDay) {
    const absl::CivilDay day = absl::ToCivilDay(t, Utc());
    return {absl::FromCivil(day, Utc()), absl::FromCivil(day + 1, Utc())};
  }
  const absl::CivilMonth month = absl::ToCivilMonth(t, Utc());
  return {absl::FromCivil(month, Utc()), absl::FromCivil(month + 1, Utc())};
}

PartitionRange NextPeriod(const PartitionRange& r, PartitionPeriod period) { return PeriodOf(r.to, period); }

std::string PartitionName(absl::string_view table, const PartitionRange& r, PartitionPeriod period) {
  return absl::StrCat(table, "_p", absl::FormatTime(period == PartitionPeriod::kDay ? "%Y%m%d" : "%Y%m", r.from, Utc()));
}

PartitionPlan PlanPartitions(const std::vector<PartitionRange>& existing, absl::Time now,
                             const RetentionPolicy& policy) {
  PartitionPlan plan;
  const auto overlaps = [&](const PartitionRange& r) {
    return std::any_of(existing.begin(), existing.end(),
                       [&](const PartitionRange& e) { return e.from < r.to && r.from < e.to; });
  };
  PartitionRange r = PeriodOf(now, policy.period);
  const absl::Time current_from = r.from;
  const absl::Time cutoff = policy.keep > absl::ZeroDuration() ? now - policy.keep : absl::InfinitePast();
  // Periods missed between the newest partition and now (maintenance did
  // not run for longer than the partitions made ahead): their rows wait in
  // the default partition until these exist. Not those already past the
  // retention: their rows are deleted from the default partition instead.
  absl::Time newest_end = absl::InfinitePast();
  for (const PartitionRange& e : existing) newest_end = std::max(newest_end, e.to);
  if (newest_end != absl::InfinitePast() && newest_end < current_from) {
    for (PartitionRange gap = PeriodOf(newest_end, policy.period); gap.from < current_from;
         gap = NextPeriod(gap, policy.period)) {
      if (gap.to > cutoff && !overlaps(gap)) plan.create.push_back(gap);
    }
  }
  for (int i = 0; i <= std::max(0, policy.ahead); ++i, r = NextPeriod(r, policy.period)) {
    if (!overlaps(r)) plan.create.push_back(r);
  }
  if (policy.keep > absl::ZeroDuration()) {
    for (const PartitionRange& e : existing) {
      if (e.to <= cutoff && e.to <= current_from) plan.drop.push_back(e);
    }
    std::sort(plan.drop.begin(), plan.drop.end(),
              [](const PartitionRange& a, const PartitionRange& b) { return a.from < b.from; });
  }
  return plan;
}

absl::Time ForgetAgentsCutoff(absl::Time now, absl::Duration after) {
  if (after <= absl::ZeroDuration()) return absl::InfinitePast();
  return now - after;
}

}  // namespace drover::rollout
