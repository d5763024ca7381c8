// The p-quantile of samples, shared by the benchmarks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace drover::bench {

// The sample at rank p (0..1) of `samples` (reordered); 0 when there are none.
template <typename T>
T Percentile(std::vector<T>& samples, double p) {
  if (samples.empty()) return T{};
  const size_t k = std::min(samples.size() - 1, static_cast<size_t>(p * static_cast<double>(samples.size())));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k), samples.end());
  return samples[k];
}

}  // namespace drover::bench
