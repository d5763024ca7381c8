#include "cli/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "proto/wire/time.h"

namespace drover::cli {

std::string Table::Render() const {
  std::vector<size_t> widths(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  std::string out;
  auto render = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      // The last column is not padded, so lines carry no trailing blanks.
      line += i + 1 == row.size() ? row[i] : PadRight(row[i], widths[i]) + "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  render(header_);
  for (const auto& row : rows_) render(row);
  return out;
}

std::string KeyValues::Render() const {
  size_t width = 0;
  for (const auto& [key, value] : rows_) width = std::max(width, DisplayWidth(key) + 1);
  std::string out;
  for (const auto& [key, value] : rows_) {
    bool first = true;
    for (absl::string_view line : absl::StrSplit(value, '\n')) {
      out += PadRight(first ? key + ":" : "", width) + "  " + std::string(line) + "\n";
      first = false;
    }
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing a well-formed message cannot fail; a failure would be a bug here.
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string PadRight(const std::string& s, size_t width) {
  size_t w = DisplayWidth(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string PadLeft(const std::string& s, size_t width) {
  size_t w = DisplayWidth(s);
  return w >= width ? s : std::string(width - w, ' ') + s;
}

std::string Bar(int64_t part, int64_t total, int width) {
  int filled = 0;
  if (total > 0 && part > 0) {
    filled = static_cast<int>(std::llround(static_cast<double>(part) * width / static_cast<double>(total)));
    filled = std::clamp(filled, 1, width);
  }
  std::string out;
  for (int i = 0; i < width; ++i) out += i < filled ? "\u2588" : "\u2591";
  return out;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", wire::TimeFromProto(t), absl::UTCTimeZone());
}

std::string FormatAge(const google::protobuf::Timestamp& t, absl::Time now) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  absl::Duration age = now - wire::TimeFromProto(t);
  if (age < absl::ZeroDuration()) age = absl::ZeroDuration();  // clock skew between hosts
  const int64_t s = absl::ToInt64Seconds(age);
  if (s < 120) return absl::StrCat(s, "s ago");
  if (s < 2 * 3600) return absl::StrCat(s / 60, "m ago");
  if (s < 2 * 86400) return absl::StrCat(s / 3600, "h ago");
  return absl::StrCat(s / 86400, "d ago");
}

std::string FormatDuration(const google::protobuf::Duration& d) { return absl::FormatDuration(wire::DurationFromProto(d)); }

std::string HealthName(v1::Health health) {
  switch (health) {
    case v1::HEALTH_HEALTHY: return "healthy";
    case v1::HEALTH_UNHEALTHY: return "unhealthy";
    default: return "unknown";
  }
}

std::string ResultName(v1::UpdateResult result) {
  switch (result) {
    case v1::UPDATE_RESULT_SUCCEEDED: return "succeeded";
    case v1::UPDATE_RESULT_FAILED: return "failed";
    case v1::UPDATE_RESULT_ROLLED_BACK: return "rolled back";
    default: return "unknown";
  }
}

std::string Percent(double value) { return absl::StrFormat("%.1f%%", value); }

std::string ScheduleNote(v1::ScheduleState state) {
  switch (state) {
    case v1::SCHEDULE_STATE_MISSING: return "schedule file missing: updates outside windows";
    case v1::SCHEDULE_STATE_UNREADABLE: return "schedule file unreadable: updates outside windows";
    case v1::SCHEDULE_STATE_ONLY_PAST_WINDOWS: return "schedule has no future window: updates outside windows";
    case v1::SCHEDULE_STATE_NOP: return "schedule says nop: never updates";
    default: return "";
  }
}

}  // namespace drover::cli
