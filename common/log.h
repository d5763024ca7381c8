// Minimal structured-ish logging to stderr: one line per event, UTC time first.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace drover {

// "<time> <level> <message>\n". Always one line, whatever the message holds
// (libpq's errors span several; a health command may print anything):
// trailing line breaks are dropped, inner ones become "\n" and other control
// characters "\xNN", so a log reader never takes part of a message for an
// entry of its own.
inline std::string FormatLogLine(absl::Time time, absl::string_view level, absl::string_view message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.remove_suffix(1);
  std::string line = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  line.append(" ").append(level.data(), level.size()).append(" ");
  for (char ch : message) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      line.append("\\n");
    } else if (c == '\r') {
      line.append("\\r");
    } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
      constexpr char kHex[] = "0123456789abcdef";
      line.append("\\x").push_back(kHex[c >> 4]);
      line.push_back(kHex[c & 0xF]);
    } else {
      line.push_back(ch);
    }
  }
  line.append("\n");
  return line;
}

inline void Log(absl::string_view level, absl::string_view message) {
  const std::string line = FormatLogLine(absl::Now(), level, message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}
inline void LogInfo(absl::string_view message) { Log("INFO", message); }
inline void LogWarning(absl::string_view message) { Log("WARN", message); }
inline void LogError(absl::string_view message) { Log("ERROR", message); }

}  // namespace drover
