#include "coordinator/api/rpc_log.h"

#include "absl/strings/escaping.h"
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

}  // namespace

std::string OneLine(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += absl::CHexEscape(absl::string_view(&c, 1));
    } else {
      out += c;
    }
  }
  return out;
}

RpcLog::RpcLog(const Clock* clock, Options options, Sink sink)
    : clock_(clock),
      options_(options),
      sink_(sink != nullptr ? std::move(sink) : Sink([](absl::string_view level, absl::string_view line) {
        Log(level, line);
      })) {}

void RpcLog::Failed(absl::string_view method, const absl::Status& status, absl::string_view peer) {
  if (status.ok()) return;
  const absl::Time now = clock_->Now();
  std::string note;
  {
    absl::MutexLock lock(&mu_);
    Window& w = windows_[{std::string(method), static_cast<int>(status.code())}];
    if (w.lines > 0 && now - w.start >= options_.window) w.lines = 0;
    if (w.lines == 0) w.start = now;
    if (w.lines >= options_.lines_per_window) {
      if (w.suppressed++ == 0) w.first_suppressed = now;
      return;
    }
    ++w.lines;
    if (w.suppressed > 0) {
      note = absl::StrCat(" (", w.suppressed, " more like it since ",
                          absl::FormatTime("%H:%M:%SZ", w.first_suppressed, absl::UTCTimeZone()),
                          " not logged; drover_rpc_requests_total counts them)");
      w.suppressed = 0;
    }
  }
  sink_(IsServerFault(status.code()) ? "ERROR" : "WARN",
        absl::StrCat("rpc ", method, " from ", OneLine(peer), " failed: ", absl::StatusCodeToString(status.code()),
                     ": ", OneLine(status.message()), note));
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
