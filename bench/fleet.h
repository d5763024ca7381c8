// The simulated fleet both benchmarks report for: host ids, the version each
// host starts on, and which hosts are unhealthy.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace drover::bench {

// Host versions, stored per host in one byte. The channel's target and
// control plane are kVersions[kTarget].
constexpr std::array<const char*, 3> kVersions = {"14.3.0", "15.1.0", "15.2.0"};
constexpr uint8_t kOld = 0, kCurrent = 1, kTarget = 2;

inline std::string HostId(absl::string_view prefix, int64_t host) { return absl::StrFormat("%s%07d", prefix, host); }

// Mostly one release behind the target, some on it, a few older.
inline uint8_t InitialVersion(int64_t host) {
  const int64_t bucket = host % 100;
  return bucket < 85 ? kCurrent : bucket < 95 ? kTarget : kOld;
}

// One host in 50.
inline bool Unhealthy(int64_t host) { return host % 50 == 7; }

}  // namespace drover::bench
