// Minimal structured-ish logging to stderr: one line per event, UTC time first.
#pragma once

#include <cstdio>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace drover {

inline void Log(absl::string_view level, absl::string_view message) {
  std::string line = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line.append(" ").append(level.data(), level.size()).append(" ").append(message.data(), message.size()).append("\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}
inline void LogInfo(absl::string_view message) { Log("INFO", message); }
inline void LogWarning(absl::string_view message) { Log("WARN", message); }
inline void LogError(absl::string_view message) { Log("ERROR", message); }

}  // namespace drover
