#include "coordinator/api/rpc_log.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace drover::api {
namespace {

bool IsServerFault(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

const char* LevelOf(absl::StatusCode code) { return IsServerFault(code) ? "ERROR" : "WARN"; }

std::string OneLine(absl::string_view text) { return EscapeLogText(text); }

}  // namespace

RpcLog::RpcLog(const Clock* clock, Options options, Sink sink)
    : clock_(clock),
      options_(options),
      sink_(sink != nullptr ? std::move(sink) : Sink([](absl::string_view level, absl::string_view line) {
        Log(level, line);
      })) {}

std::vector<RpcLog::Pending> RpcLog::TakeExpiredLocked(absl::Time now, bool all) {
  std::vector<Pending> out;
  for (auto& [key, w] : windows_) {
    if (w.suppressed == 0 || (!all && now - w.start < options_.window)) continue;
    const auto code = static_cast<absl::StatusCode>(key.second);
    out.push_back({LevelOf(code),
                   absl::StrCat("rpc ", key.first, " failed ", absl::StatusCodeToString(code), " ", w.suppressed,
                                " more times since ",
                                absl::FormatTime("%H:%M:%SZ", w.first_suppressed, absl::UTCTimeZone()),
                                " (not logged; drover_rpc_requests_total counts them)")});
    w.suppressed = 0;
    w.lines = 0;
  }
  return out;
}

void RpcLog::Flush(bool all) {
  std::vector<Pending> lines;
  {
    absl::MutexLock lock(&mu_);
    lines = TakeExpiredLocked(clock_->Now(), all);
  }
  for (const Pending& p : lines) sink_(p.level, p.line);
}

void RpcLog::Failed(absl::string_view method, const absl::Status& status, absl::string_view peer) {
  if (status.ok()) return;
  const absl::Time now = clock_->Now();
  std::vector<Pending> expired;
  {
    absl::MutexLock lock(&mu_);
    expired = TakeExpiredLocked(now, false);
    Window& w = windows_[{std::string(method), static_cast<int>(status.code())}];
    if (w.lines > 0 && now - w.start >= options_.window) w.lines = 0;
    if (w.lines == 0) w.start = now;
    if (w.lines >= options_.lines_per_window) {
      if (w.suppressed++ == 0) w.first_suppressed = now;
    } else {
      ++w.lines;
      expired.push_back({LevelOf(status.code()),
                         absl::StrCat("rpc ", method, " from ", OneLine(peer), " failed: ",
                                      absl::StatusCodeToString(status.code()), ": ", OneLine(status.message()))});
    }
  }
  for (const Pending& p : expired) sink_(p.level, p.line);
}

void RpcLog::Changed(absl::string_view peer, const std::vector<rollout::ChannelChange>& changes) {
  for (const rollout::ChannelChange& c : changes) {
    std::string line;
    if (c.field == "created" || c.field == "deleted") {
      line = absl::StrCat("channel \"", OneLine(c.channel), "\" ", c.field, " by ", OneLine(peer), ": ",
                          OneLine(c.new_value));
    } else {
      line = absl::StrCat("channel \"", OneLine(c.channel), "\" changed by ", OneLine(peer), ": ", OneLine(c.field),
                          " ", OneLine(c.old_value), " -> ", OneLine(c.new_value));
    }
    sink_("INFO", line);
  }
}

}  // namespace drover::api
