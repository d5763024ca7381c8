// Which version strings become Prometheus label values. Agents report their
// version, so a host (or an attacker with many host ids) could otherwise
// create a time series per made-up version; beyond a cap the rest is folded
// into one "other" value, and how many were folded is exported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace drover::metrics {

inline constexpr char kOtherVersionLabel[] = "other";

class VersionLabels {
 public:
  // Keeps every `pinned` version (the channels' targets and control planes:
  // set by operators, bounded by --max_channels) and then the versions most
  // agents run, up to `max_labels` in all (ties: the lower string first); 0:
  // no cap. `agents_by_version`: agents per version over the whole fleet.
  VersionLabels(const std::map<std::string, int64_t>& agents_by_version, const std::set<std::string>& pinned,
                size_t max_labels);

  // `version` itself, or "other".
  const std::string& LabelFor(const std::string& version) const;
  // Distinct versions folded into "other".
  size_t folded() const { return folded_; }

 private:
  std::set<std::string> kept_;
  size_t folded_ = 0;
  std::string other_ = kOtherVersionLabel;
};

}  // namespace drover::metrics
