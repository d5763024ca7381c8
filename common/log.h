// Minimal structured-ish logging to stderr: one line per event, UTC time first.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace drover {

// `text` on one line: line breaks become "\n" and "\r", other control
// characters (except tab) "\xNN", so a log reader never takes part of a
// message for an entry of its own. Also for fields quoted inside a message.
inline std::string EscapeLogText(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
      constexpr char kHex[] = "0123456789abcdef";
      out.append("\\x").push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

// "<time> <level> <message>\n". Always one line, whatever the message holds
// (libpq's errors span several; a health command may print anything):
// trailing line breaks are dropped, the rest escaped by EscapeLogText.
inline std::string FormatLogLine(absl::Time time, absl::string_view level, absl::string_view message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.remove_suffix(1);
  std::string line = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  line.append(" ").append(level.data(), level.size()).append(" ");
  line.append(EscapeLogText(message));
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
