#include "coordinator/metrics/rollout_metrics.h"

#include <algorithm>

#include "coordinator/rollout/staged.h"

namespace drover::metrics {
namespace {

prometheus::Family<prometheus::Gauge>* GaugeFamily(prometheus::Registry& r, const std::string& name,
                                                   const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

constexpr rollout::RolloutState kRolloutStates[] = {
    rollout::RolloutState::kActive, rollout::RolloutState::kPaused,     rollout::RolloutState::kHalted,
    rollout::RolloutState::kRolledBack, rollout::RolloutState::kDone, rollout::RolloutState::kSuperseded};
constexpr rollout::GroupState kGroupStates[] = {
    rollout::GroupState::kUnstarted, rollout::GroupState::kCanary, rollout::GroupState::kActive,
    rollout::GroupState::kBaking,    rollout::GroupState::kDone,   rollout::GroupState::kHalted,
    rollout::GroupState::kRolledBack};

}  // namespace

void RolloutMetrics::Series::Replace(const std::map<Labels, double>& values) {
  for (auto it = current.begin(); it != current.end();) {
    if (!values.contains(it->first)) {
      family->Remove(it->second);
      it = current.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [labels, value] : values) {
    auto [it, inserted] = current.try_emplace(labels, nullptr);
    if (inserted) it->second = &family->Add(labels);
    it->second->Set(value);
  }
}

RolloutMetrics::RolloutMetrics(prometheus::Registry& r)
    : state_{GaugeFamily(r, "drover_rollout_state",
                         "1 for the state the channel's current rollout is in, 0 for the others (live rollouts: "
                         "active, paused, halted; and a rollout that ended rolled back)"),
             {}},
      state_since_{GaugeFamily(r, "drover_rollout_state_since_seconds",
                               "Unix time the channel's current rollout entered its state"),
                   {}},
      group_state_{GaugeFamily(r, "drover_rollout_group_state",
                               "1 for the state each group of the channel's current rollout is in, 0 for the others"),
                   {}},
      group_state_since_{GaugeFamily(r, "drover_rollout_group_state_since_seconds",
                                     "Unix time each group of the current rollout entered its state"),
                         {}},
      group_hosts_{GaugeFamily(r, "drover_rollout_group_hosts",
                               "Hosts of each group of the current rollout, by kind: present, on_target_healthy, "
                               "admitted (let in), canaries, in_flight (let in, not yet on the target healthy), "
                               "updating (installing now), failed, canaries_failed"),
                   {}},
      budget_used_{GaugeFamily(r, "drover_rollout_group_budget_used_ratio",
                               "Failures of each group (or of its canaries, kind=\"canaries\") over the failures "
                               "that halt the rollout (budget + 1): 1 means halted by the brake"),
                   {}},
      leader_(prometheus::BuildGauge()
                  .Name("drover_rollout_engine_leader")
                  .Help("1 when this replica holds the leader lock and advances rollouts")
                  .Register(r)
                  .Add({})),
      steps_(prometheus::BuildCounter()
                 .Name("drover_rollout_engine_steps_total")
                 .Help("Rollout steps this replica's engine wrote")
                 .Register(r)
                 .Add({})),
      conflicts_(prometheus::BuildCounter()
                     .Name("drover_rollout_engine_conflicts_total")
                     .Help("Steps not written because another writer advanced the rollout first")
                     .Register(r)
                     .Add({})),
      errors_(prometheus::BuildCounter()
                  .Name("drover_rollout_engine_errors_total")
                  .Help("Engine ticks or steps that failed (database errors)")
                  .Register(r)
                  .Add({})) {}

void RolloutMetrics::Update(const std::vector<store::RolloutStatusView>& rollouts) {
  std::map<Labels, double> state, state_since, group_state, group_since, hosts, budget;
  for (const store::RolloutStatusView& v : rollouts) {
    const rollout::Rollout& r = v.rollout;
    const std::string channel = r.channel;
    for (rollout::RolloutState s : kRolloutStates) {
      state[{{"channel", channel}, {"state", rollout::RolloutStateName(s)}}] = s == r.state ? 1 : 0;
    }
    state_since[{{"channel", channel}}] = absl::ToDoubleSeconds(r.state_since - absl::UnixEpoch());
    for (size_t i = 0; i < r.groups.size(); ++i) {
      const rollout::GroupProgress& g = r.groups[i];
      for (rollout::GroupState s : kGroupStates) {
        group_state[{{"channel", channel}, {"group", g.name}, {"state", rollout::GroupStateName(s)}}] =
            s == g.state ? 1 : 0;
      }
      group_since[{{"channel", channel}, {"group", g.name}}] = absl::ToDoubleSeconds(g.state_since - absl::UnixEpoch());
      if (i >= v.groups.size()) continue;
      const store::GroupCounts& c = v.groups[i];
      for (const auto& [kind, value] :
           std::vector<std::pair<const char*, int64_t>>{{"present", c.present},
                                                        {"on_target_healthy", c.on_target_healthy},
                                                        {"admitted", c.admitted},
                                                        {"canaries", c.canaries},
                                                        {"in_flight", c.in_flight},
                                                        {"updating", c.updating},
                                                        {"failed", c.failed},
                                                        {"canaries_failed", c.canaries_failed}}) {
        hosts[{{"channel", channel}, {"group", g.name}, {"kind", kind}}] = static_cast<double>(value);
      }
      const int64_t tolerated = v.policy.group_budget.ToleratedOf(std::max(c.present, c.admitted));
      budget[{{"channel", channel}, {"group", g.name}, {"kind", "group"}}] =
          static_cast<double>(c.failed) / static_cast<double>(tolerated + 1);
      const int64_t canary_tolerated = v.policy.canary_budget.ToleratedOf(c.canaries);
      budget[{{"channel", channel}, {"group", g.name}, {"kind", "canaries"}}] =
          static_cast<double>(c.canaries_failed) / static_cast<double>(canary_tolerated + 1);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  state_.Replace(state);
  state_since_.Replace(state_since);
  group_state_.Replace(group_state);
  group_state_since_.Replace(group_since);
  group_hosts_.Replace(hosts);
  budget_used_.Replace(budget);
}

void RolloutMetrics::SetEngine(bool leader, int64_t steps_saved, int64_t conflicts, int64_t errors) {
  std::lock_guard<std::mutex> lock(mu_);
  leader_.Set(leader ? 1 : 0);
  // The engine keeps running totals; the counters take what was added since.
  steps_.Increment(static_cast<double>(std::max<int64_t>(0, steps_saved - last_steps_)));
  conflicts_.Increment(static_cast<double>(std::max<int64_t>(0, conflicts - last_conflicts_)));
  errors_.Increment(static_cast<double>(std::max<int64_t>(0, errors - last_errors_)));
  last_steps_ = steps_saved;
  last_conflicts_ = conflicts;
  last_errors_ = errors;
}

}  // namespace drover::metrics
