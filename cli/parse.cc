#include "cli/parse.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/api_limits.h"
#include "common/maintenance_window.h"
#include "proto/wire/time.h"

namespace drover::cli {
namespace {

constexpr const char* kSpecForm =
    "a window SPEC is \"<days> <HH:00> <duration>\" (UTC), e.g. \"daily 02:00 1h\", \"mon,thu 22:00 90m\" or "
    "\"mon-fri 23:00 2h\"";
constexpr const char* kShortDays[] = {"", "mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr const char* kLongDays[] = {"", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

int DayNumber(const std::string& name) {
  for (int d = 1; d <= 7; ++d) {
    if (name == kShortDays[d] || name == kLongDays[d]) return d;
  }
  if (name == "tues") return 2;
  if (name == "thur" || name == "thurs") return 4;
  return 0;
}

absl::Status SpecError(const std::string& spec, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("window \"", spec, "\": ", problem, "; ", kSpecForm));
}

absl::StatusOr<std::vector<int>> ParseDays(const std::string& spec, const std::string& text) {
  const std::string days = absl::AsciiStrToLower(text);
  if (days == "daily" || days == "every" || days == "*") return std::vector<int>{};
  if (days == "weekdays") return std::vector<int>{1, 2, 3, 4, 5};
  if (days == "weekends") return std::vector<int>{6, 7};
  std::set<int> out;
  for (absl::string_view part : absl::StrSplit(days, ',')) {
    std::vector<std::string> range = absl::StrSplit(part, '-');
    if (range.size() > 2) return SpecError(spec, absl::StrCat("\"", part, "\" is not a day or a range of days"));
    const int first = DayNumber(range[0]);
    const int last = range.size() == 2 ? DayNumber(range[1]) : first;
    if (first == 0 || last == 0) {
      return SpecError(spec, absl::StrCat("\"", part, "\" is not a day (mon..sun, or \"daily\")"));
    }
    // A range may wrap past Sunday: "fri-mon" is fri,sat,sun,mon.
    for (int d = first;; d = d % 7 + 1) {
      out.insert(d);
      if (d == last) break;
    }
  }
  return std::vector<int>(out.begin(), out.end());
}

absl::StatusOr<int> ParseStartHour(const std::string& spec, const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  int hour = -1;
  int minute = -1;
  if (parts.size() != 2 || parts[0].empty() || parts[0].size() > 2 || parts[1].size() != 2 ||
      !absl::SimpleAtoi(parts[0], &hour) || !absl::SimpleAtoi(parts[1], &minute)) {
    return SpecError(spec, absl::StrCat("start \"", text, "\" is not a time like 02:00"));
  }
  if (hour < 0 || hour > 23) return SpecError(spec, absl::StrCat("start hour ", hour, " is not in 00..23"));
  if (minute != 0) {
    return SpecError(spec, absl::StrCat("start \"", text, "\" is not on the hour; windows start at HH:00 UTC"));
  }
  return hour;
}

absl::StatusOr<absl::Duration> ParseWindowDuration(const std::string& spec, const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d)) {
    return SpecError(spec, absl::StrCat("duration \"", text, "\" is not a duration like 1h or 90m"));
  }
  if (d < absl::Minutes(1) || d > absl::Hours(24) || d % absl::Minutes(1) != absl::ZeroDuration()) {
    return SpecError(spec, absl::StrCat("duration ", text, " must be whole minutes from 1m to 24h"));
  }
  return d;
}

// Whitespace around commas and dashes belongs to the day list ("mon, thu").
std::string TightenDayLists(const std::string& arg) {
  std::string out;
  for (size_t i = 0; i < arg.size(); ++i) {
    const char c = arg[i];
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      const bool after_sep = !out.empty() && (out.back() == ',' || out.back() == '-');
      size_t j = i;
      while (j < arg.size() && absl::ascii_isspace(static_cast<unsigned char>(arg[j]))) ++j;
      const bool before_sep = j < arg.size() && (arg[j] == ',' || arg[j] == '-');
      if (after_sep || before_sep) continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<v1::MaintenanceWindow>> ParseWindowSpecs(const std::vector<std::string>& args) {
  std::vector<std::string> words;
  for (const std::string& arg : args) {
    for (absl::string_view w : absl::StrSplit(TightenDayLists(arg), absl::ByAnyChar(" \t\n"), absl::SkipEmpty())) {
      words.emplace_back(w);
    }
  }
  if (words.empty()) return absl::InvalidArgumentError(absl::StrCat("no window given; ", kSpecForm));
  if (words.size() % 3 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("window \"", absl::StrJoin(args, " "), "\" does not split into SPECs of three words; ", kSpecForm));
  }
  std::vector<v1::MaintenanceWindow> out;
  for (size_t i = 0; i < words.size(); i += 3) {
    const std::string spec = absl::StrCat(words[i], " ", words[i + 1], " ", words[i + 2]);
    absl::StatusOr<std::vector<int>> days = ParseDays(spec, words[i]);
    if (!days.ok()) return days.status();
    absl::StatusOr<int> hour = ParseStartHour(spec, words[i + 1]);
    if (!hour.ok()) return hour.status();
    absl::StatusOr<absl::Duration> duration = ParseWindowDuration(spec, words[i + 2]);
    if (!duration.ok()) return duration.status();
    MaintenanceWindow window;
    window.weekdays = *std::move(days);
    window.utc_start_hour = *hour;
    window.duration = *duration;  // whole minutes (ParseWindowDuration)
    wire::WindowToProto(window, &out.emplace_back());
  }
  return out;
}

std::string FormatWindowSpec(const v1::MaintenanceWindow& window) {
  std::vector<std::string> days;
  for (int d : window.weekdays()) days.push_back(d >= 1 && d <= 7 ? kShortDays[d] : absl::StrCat("day", d));
  std::string start = absl::StrCat(window.utc_start_hour() < 10 ? "0" : "", window.utc_start_hour(), ":00");
  const absl::Duration duration = wire::DurationFromProto(window.duration());
  return absl::StrCat(days.empty() ? "daily" : absl::StrJoin(days, ","), " ", start, " ",
                      absl::FormatDuration(duration));
}

absl::StatusOr<absl::Duration> ParseDurationValue(const std::string& flag, const std::string& value,
                                                  absl::Duration min, absl::Duration max) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", value, " is not a duration; use a number with a unit, e.g. 30s, 5m or 1h"));
  }
  if (d < min || d > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value, " is out of range; use ",
                                                   absl::FormatDuration(min), " to ", absl::FormatDuration(max)));
  }
  return d;
}

absl::StatusOr<absl::Duration> ParsePollInterval(absl::string_view label, const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d)) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, value, " is not a duration; use a number with a unit, e.g. 30s, 5m or 1h"));
  }
  if (d < kMinPollInterval || d > kMaxPollInterval) {
    return absl::InvalidArgumentError(absl::StrCat(label, value, " is out of range; use ",
                                                   absl::FormatDuration(kMinPollInterval), " to ",
                                                   absl::FormatDuration(kMaxPollInterval)));
  }
  // Sent in milliseconds: never round what was asked for.
  if (d % absl::Milliseconds(1) != absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, value, " is finer than a millisecond; use whole milliseconds, e.g. 1500ms"));
  }
  return d;
}

absl::StatusOr<int64_t> ParseCount(const std::string& flag, const std::string& value, int64_t min, int64_t max) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", value, " is not a whole number from ", min, " to ", max));
  }
  return n;
}

}  // namespace drover::cli
