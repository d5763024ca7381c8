// Prometheus metrics of staged rollouts (deploy/prometheus/alerts.yml alerts
// on them): each live rollout's state and its groups' states, counts and
// failure budget, and the engine's leadership. Every replica exports them
// from the same database, so rules aggregate with max by (channel, ...).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/time/time.h"
#include "coordinator/store/rollout_store.h"

namespace drover::metrics {

class RolloutMetrics {
 public:
  explicit RolloutMetrics(prometheus::Registry& registry);

  // The rollouts live now (others' series are removed).
  void Update(const std::vector<store::RolloutStatusView>& rollouts);
  // This replica's engine: whether it leads, and its running totals.
  void SetEngine(bool leader, int64_t steps_saved, int64_t conflicts, int64_t errors);

 private:
  using Labels = std::map<std::string, std::string>;
  struct Series {
    prometheus::Family<prometheus::Gauge>* family;
    std::map<Labels, prometheus::Gauge*> current;
    void Replace(const std::map<Labels, double>& values);
  };

  std::mutex mu_;
  Series state_, state_since_, group_state_, group_state_since_, group_hosts_, budget_used_;
  prometheus::Gauge& leader_;
  prometheus::Counter& steps_;
  prometheus::Counter& conflicts_;
  prometheus::Counter& errors_;
  int64_t last_steps_ = 0, last_conflicts_ = 0, last_errors_ = 0;
};

}  // namespace drover::metrics
