#include "agent-updater/daemon/pass_report.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace drover::updater {

std::string FormatPassReport(const PassReport& report) {
  std::string summary = report.summary;
  std::replace(summary.begin(), summary.end(), '\n', ' ');
  return absl::StrCat("ok=", report.ok ? 1 : 0, " reachable=", report.coordinator_reachable ? 1 : 0,
                      " poll_interval_ms=", absl::ToInt64Milliseconds(report.poll_interval),
                      " backoff_initial_ms=", absl::ToInt64Milliseconds(report.backoff_initial),
                      " backoff_max_ms=", absl::ToInt64Milliseconds(report.backoff_max),
                      " next_sync_ms=", absl::ToInt64Milliseconds(report.next_sync), " summary=", summary, "\n");
}

namespace {

// Consumes "<key>=<digits> " from the front of `line`.
absl::StatusOr<int64_t> TakeNumber(absl::string_view& line, absl::string_view key) {
  const std::string prefix = absl::StrCat(key, "=");
  if (!absl::ConsumePrefix(&line, prefix)) {
    return absl::InvalidArgumentError(absl::StrCat("pass result lacks \"", key, "=\": \"", line, "\""));
  }
  const size_t end = std::min(line.find(' '), line.size());
  int64_t value = 0;
  if (!absl::SimpleAtoi(line.substr(0, end), &value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pass result has a bad ", key, ": \"", line.substr(0, end), "\""));
  }
  line.remove_prefix(end);
  absl::ConsumePrefix(&line, " ");
  return value;
}

}  // namespace

absl::StatusOr<PassReport> ParsePassReport(absl::string_view line) {
  line = absl::StripTrailingAsciiWhitespace(line);
  PassReport r;
  absl::StatusOr<int64_t> ok = TakeNumber(line, "ok");
  if (!ok.ok()) return ok.status();
  absl::StatusOr<int64_t> reachable = TakeNumber(line, "reachable");
  if (!reachable.ok()) return reachable.status();
  absl::StatusOr<int64_t> poll_ms = TakeNumber(line, "poll_interval_ms");
  if (!poll_ms.ok()) return poll_ms.status();
  absl::StatusOr<int64_t> backoff_initial_ms = TakeNumber(line, "backoff_initial_ms");
  if (!backoff_initial_ms.ok()) return backoff_initial_ms.status();
  absl::StatusOr<int64_t> backoff_max_ms = TakeNumber(line, "backoff_max_ms");
  if (!backoff_max_ms.ok()) return backoff_max_ms.status();
  int64_t next_sync_ms = 0;
  if (absl::StartsWith(line, "next_sync_ms=")) {
    absl::StatusOr<int64_t> n = TakeNumber(line, "next_sync_ms");
    if (!n.ok()) return n.status();
    next_sync_ms = *n;
  }
  if (!absl::ConsumePrefix(&line, "summary=")) {
    return absl::InvalidArgumentError(absl::StrCat("pass result lacks \"summary=\": \"", line, "\""));
  }
  r.ok = *ok != 0;
  r.coordinator_reachable = *reachable != 0;
  r.poll_interval = absl::Milliseconds(*poll_ms);
  r.backoff_initial = absl::Milliseconds(*backoff_initial_ms);
  r.backoff_max = absl::Milliseconds(*backoff_max_ms);
  r.next_sync = absl::Milliseconds(next_sync_ms);
  r.summary = std::string(line);
  return r;
}

absl::Duration NextPassAfter(const std::optional<PassReport>& report, Backoff& backoff, double unit) {
  if (report && report->ok && report->coordinator_reachable && report->next_sync > absl::ZeroDuration()) {
    backoff.Reset();
    return std::clamp(report->next_sync, kMinPollInterval, kMaxPollInterval);
  }
  if (report && report->ok && report->coordinator_reachable && report->poll_interval > absl::ZeroDuration()) {
    backoff.Reset();
    return report->poll_interval * (0.9 + 0.2 * unit);
  }
  return backoff.Next();
}

absl::Duration RetryCap(absl::Duration configured_max, absl::Duration poll_interval) {
  if (configured_max > absl::ZeroDuration()) return configured_max;
  if (poll_interval > absl::ZeroDuration()) return poll_interval;
  return kDefaultRetryCap;
}

}  // namespace drover::updater
