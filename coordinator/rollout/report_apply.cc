#include "coordinator/rollout/report_apply.h"

#include <algorithm>

namespace drover::rollout {

BatchPlan PlanBatch(const std::vector<const AgentReport*>& reports,
                    const absl::flat_hash_map<std::string, AgentState>& stored,
                    const absl::flat_hash_map<std::string, int64_t>& target_epochs, absl::Time now) {
  BatchPlan plan;
  plan.dispositions.reserve(reports.size());
  plan.stored_sequences.reserve(reports.size());

  // Working state per host: its state before the batch (if any) and now.
  struct Working {
    const AgentState* before = nullptr;
    AgentState now;
    bool exists = false;
    bool changed = false;
  };
  absl::flat_hash_map<std::string, Working> hosts;
  hosts.reserve(reports.size());
  std::vector<std::string> order;  // first appearance, for a stable output

  for (const AgentReport* r : reports) {
    auto [it, inserted] = hosts.try_emplace(r->host_id);
    Working& w = it->second;
    if (inserted) {
      order.push_back(r->host_id);
      if (auto s = stored.find(r->host_id); s != stored.end()) {
        w.before = &s->second;
        w.now = s->second;
        w.exists = true;
      }
    }
    if (w.exists && r->sequence <= w.now.sequence) {
      plan.dispositions.push_back(r->sequence == w.now.sequence ? ReportDisposition::kDuplicate
                                                                : ReportDisposition::kOutOfOrder);
      plan.stored_sequences.push_back(w.now.sequence);
      continue;
    }
    if (w.exists) {
      plan.fleet_deltas[{w.now.channel, w.now.current_version, w.now.health}] -= 1;
    }
    w.now.host_id = r->host_id;
    w.now.channel = r->channel;
    w.now.group = r->group;
    w.now.current_version = r->current_version;
    w.now.health = r->health;
    w.now.updater_version = r->updater_version;
    w.now.sequence = r->sequence;
    w.exists = true;
    w.changed = true;
    plan.fleet_deltas[{w.now.channel, w.now.current_version, w.now.health}] += 1;

    int64_t epoch = target_epochs.at(r->channel);
    for (const UpdateOutcome& o : r->outcomes) {
      plan.events.push_back({r->host_id, r->channel, r->sequence, o});
      plan.outcome_deltas[{r->channel, epoch, o.result}] += 1;
    }
    plan.dispositions.push_back(ReportDisposition::kAccepted);
    plan.stored_sequences.push_back(r->sequence);
  }

  for (const std::string& host : order) {
    Working& w = hosts[host];
    if (!w.changed) continue;
    if (w.before) plan.seen_deltas[{w.before->channel, SeenBucket(w.before->last_seen)}] -= 1;
    plan.seen_deltas[{w.now.channel, SeenBucket(now)}] += 1;
    w.now.last_seen = now;
    (w.before ? plan.updates : plan.inserts).push_back(std::move(w.now));
  }
  // Row locks in host_id order everywhere, so concurrent batches (replicas)
  // cannot deadlock on each other's new hosts.
  auto by_host = [](const AgentState& a, const AgentState& b) { return a.host_id < b.host_id; };
  std::sort(plan.inserts.begin(), plan.inserts.end(), by_host);
  std::sort(plan.updates.begin(), plan.updates.end(), by_host);
  for (const AgentState& u : plan.updates) plan.expected_sequences.push_back(stored.at(u.host_id).sequence);
  std::erase_if(plan.fleet_deltas, [](const auto& kv) { return kv.second == 0; });
  std::erase_if(plan.seen_deltas, [](const auto& kv) { return kv.second == 0; });
  return plan;
}

}  // namespace drover::rollout
