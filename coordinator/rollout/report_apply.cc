#include "coordinator/rollout/report_apply.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace drover::rollout {

Round NextRound(const std::vector<std::string>& hosts, const std::vector<size_t>& pending) {
  Round round;
  round.now.reserve(pending.size());
  absl::flat_hash_set<absl::string_view> seen;
  seen.reserve(pending.size());
  for (size_t i : pending) {
    (seen.insert(hosts[i]).second ? round.now : round.later).push_back(i);
  }
  return round;
}

int64_t MaxAcceptedSequence(std::optional<int64_t> stored, absl::Time now) {
  const int64_t lead = absl::ToInt64Microseconds(kMaxSequenceLead);
  const int64_t base = std::max(stored.value_or(std::numeric_limits<int64_t>::min()), absl::ToUnixMicros(now));
  return base > std::numeric_limits<int64_t>::max() - lead ? std::numeric_limits<int64_t>::max() : base + lead;
}

NotApplied ClassifyNotApplied(bool channel_known, int64_t sequence, std::optional<int64_t> stored_sequence,
                              absl::Time now) {
  if (!channel_known) return NotApplied::kUnknownChannel;
  if (sequence > MaxAcceptedSequence(stored_sequence, now)) return NotApplied::kSequenceTooFarAhead;
  // No row in the snapshot, yet not inserted: another writer inserted the
  // host meanwhile. A stored sequence below the report's, yet not updated:
  // another writer updated the host meanwhile. Either way the next round sees
  // that writer's row.
  if (!stored_sequence.has_value() || *stored_sequence < sequence) return NotApplied::kRetry;
  return *stored_sequence == sequence ? NotApplied::kDuplicate : NotApplied::kOutOfOrder;
}

const UpdateOutcome* LastOutcome(const AgentReport& report) {
  const UpdateOutcome* last = nullptr;
  for (const UpdateOutcome& o : report.outcomes) {
    if (last == nullptr || o.finish_time >= last->finish_time) last = &o;
  }
  return last;
}

InstanceUpdate ApplyInstance(const std::string& stored_instance, const std::string& stored_previous,
                             const std::string& reported) {
  // An updater that sends no instance id changes nothing.
  if (reported.empty()) return {stored_instance, stored_previous, false};
  if (stored_instance.empty() || stored_instance == reported) return {reported, stored_previous, false};
  return {reported, stored_instance, stored_previous == reported};
}

}  // namespace drover::rollout
