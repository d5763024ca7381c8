#include "agent-updater/kube/kube_schedule.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace drover::updater::kube {
namespace {

absl::StatusOr<absl::Time> ParseRfc3339(const nlohmann::json& window, const char* field, size_t index) {
  auto it = window.find(field);
  if (it == window.end() || !it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule window ", index, ": \"", field, "\" is missing or not a string"));
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, it->get<std::string>(), &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("schedule window ", index, ": \"", field, "\" \"",
                                                   it->get<std::string>(), "\" is not RFC 3339: ", err));
  }
  return t;
}

}  // namespace

absl::StatusOr<Schedule> ParseKubeSchedule(absl::string_view text) {
  Schedule s;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (trimmed == "nop") {
    s.nop = true;
    return s;
  }
  if (trimmed.empty()) return s;
  nlohmann::json doc = nlohmann::json::parse(trimmed, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule is neither \"nop\" nor a JSON object {\"windows\":[...]}: \"",
                     trimmed.substr(0, 80), "\""));
  }
  auto windows = doc.find("windows");
  if (windows == doc.end() || windows->is_null()) return s;
  if (!windows->is_array()) return absl::InvalidArgumentError("schedule: \"windows\" is not an array");
  for (size_t i = 0; i < windows->size(); ++i) {
    const nlohmann::json& w = (*windows)[i];
    if (!w.is_object()) return absl::InvalidArgumentError(absl::StrCat("schedule window ", i, " is not an object"));
    absl::StatusOr<absl::Time> start = ParseRfc3339(w, "start", i);
    if (!start.ok()) return start.status();
    absl::StatusOr<absl::Time> stop = ParseRfc3339(w, "stop", i);
    if (!stop.ok()) return stop.status();
    if (*stop <= *start) {
      return absl::InvalidArgumentError(absl::StrCat("schedule window ", i, ": stop ",
                                                     absl::FormatTime(absl::RFC3339_full, *stop, absl::UTCTimeZone()),
                                                     " is not after start"));
    }
    s.windows.push_back({*start, *stop});
  }
  return s;
}

std::string ToTeleportScheduleFile(const Schedule& schedule, absl::string_view origin) {
  std::string out = absl::StrCat("# exported by drover-kube-updater from ", origin, "\n");
  if (schedule.nop) return absl::StrCat(out, "nop\n");
  for (const TimeRange& w : schedule.windows) {
    absl::StrAppend(&out, absl::ToUnixSeconds(w.start), " ", absl::ToUnixSeconds(w.end), "\n");
  }
  return out;
}

}  // namespace drover::updater::kube
