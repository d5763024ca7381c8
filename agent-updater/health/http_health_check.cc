#include "agent-updater/health/http_health_check.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/install/http_fetch.h"

namespace drover::updater {
namespace {

constexpr size_t kMaxBody = 64 * 1024;
constexpr size_t kBodyInMessage = 120;

// The start of a body, on one line, for a message a person reads.
std::string Excerpt(absl::string_view body) {
  std::string out;
  for (char c : body.substr(0, kBodyInMessage)) {
    out.push_back(absl::ascii_isprint(static_cast<unsigned char>(c)) ? c : ' ');
  }
  out = std::string(absl::StripAsciiWhitespace(out));
  if (body.size() > kBodyInMessage) out.append("...");
  return out;
}

}  // namespace

absl::Status HttpHealthCheck::Check() {
  HttpFetchOptions options;
  options.timeout = timeout_;
  options.max_body_bytes = kMaxBody;
  absl::StatusOr<HttpResponse> response = HttpGet(url_, options);
  if (!response.ok()) {
    if (absl::IsDeadlineExceeded(response.status())) {
      return absl::DeadlineExceededError(absl::StrCat("health check timed out after ", absl::FormatDuration(timeout_),
                                                      ": ", response.status().message()));
    }
    return absl::UnavailableError(absl::StrCat("health check failed: ", response.status().message()));
  }
  if (response->status != expected_status_) {
    std::string body = Excerpt(response->body);
    return absl::UnavailableError(absl::StrCat("health check GET ", url_, " returned HTTP ", response->status,
                                               ", want ", expected_status_,
                                               body.empty() ? std::string() : absl::StrCat(": \"", body, "\"")));
  }
  return absl::OkStatus();
}

}  // namespace drover::updater
