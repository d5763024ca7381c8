#include "coordinator/metrics/version_labels.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace drover::metrics {

VersionLabels::VersionLabels(const std::map<std::string, int64_t>& agents_by_version,
                             const std::set<std::string>& pinned, size_t max_labels) {
  if (max_labels == 0) {
    for (const auto& [version, agents] : agents_by_version) kept_.insert(version);
    return;
  }
  for (const std::string& v : pinned) {
    if (kept_.size() < max_labels) kept_.insert(v);
  }
  std::vector<std::pair<int64_t, std::string>> by_agents;
  by_agents.reserve(agents_by_version.size());
  for (const auto& [version, agents] : agents_by_version) {
    if (!kept_.contains(version)) by_agents.emplace_back(agents, version);
  }
  std::sort(by_agents.begin(), by_agents.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (const auto& [agents, version] : by_agents) {
    if (kept_.size() < max_labels) {
      kept_.insert(version);
    } else {
      ++folded_;
    }
  }
}

const std::string& VersionLabels::LabelFor(const std::string& version) const {
  auto it = kept_.find(version);
  return it == kept_.end() ? other_ : *it;
}

}  // namespace drover::metrics
