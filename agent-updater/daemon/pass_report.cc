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
                      " next_sync_ms=", absl::ToInt64Milliseconds(report.next_sync),
                      report.watch.empty() ? "" : absl::StrCat(" watch=", report.watch, " watch_path=", report.watch_path,
                                                                " answer_tag=", report.answer_tag),
                      " summary=", summary, "\n");
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
  // Optional keys, then the summary.
  while (!absl::ConsumePrefix(&line, "summary=")) {
    const size_t end = std::min(line.find(' '), line.size());
    const absl::string_view field = line.substr(0, end);
    const size_t eq = field.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("pass result lacks \"summary=\": \"", line, "\""));
    }
    const absl::string_view key = field.substr(0, eq);
    const absl::string_view value = field.substr(eq + 1);
    if (key == "next_sync_ms") {
      absl::StatusOr<int64_t> n = TakeNumber(line, "next_sync_ms");
      if (!n.ok()) return n.status();
      next_sync_ms = *n;
      continue;
    }
    if (key == "watch") r.watch = std::string(value);
    if (key == "watch_path") r.watch_path = std::string(value);
    if (key == "answer_tag") r.answer_tag = std::string(value);
    line.remove_prefix(end);
    absl::ConsumePrefix(&line, " ");
  }
  if (r.watch.empty() != r.watch_path.empty()) {
    return absl::InvalidArgumentError("pass result has one of watch= and watch_path= without the other");
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

double PushPacer::TokensAt(absl::Time t) const {
  if (counted_ == absl::InfinitePast() || t <= counted_) return tokens_;
  return std::min<double>(kPushBurst, tokens_ + absl::FDivDuration(t - counted_, kPushRefill));
}

absl::Time PushPacer::At(absl::Time now, double unit) const {
  const absl::Time jittered = now + kPushJitter * unit;
  const double tokens = TokensAt(jittered);
  if (tokens >= 1.0) return jittered;
  // When the bucket holds one token again.
  return jittered + kPushRefill * (1.0 - tokens);
}

void PushPacer::Started(absl::Time t) {
  tokens_ = std::max(0.0, TokensAt(t) - 1.0);
  counted_ = t;
}

}  // namespace drover::updater
