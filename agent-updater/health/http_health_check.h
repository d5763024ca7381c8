// Healthy when GET <url> answers the expected status in time (e.g. an
// agent's /readyz).
#pragma once

#include <string>

#include "absl/time/time.h"
#include "agent-updater/health/health_check.h"

namespace drover::updater {

class HttpHealthCheck final : public HealthCheck {
 public:
  // `url` is http:// or https:// (checked by MakeHealthCheck; https against
  // the system CA store).
  HttpHealthCheck(std::string url, int expected_status, absl::Duration timeout)
      : url_(std::move(url)), expected_status_(expected_status), timeout_(timeout) {}

  std::string Name() const override { return "http"; }
  // Unavailable with the status code and the start of the body seen, or why
  // no answer came; DeadlineExceeded after the timeout.
  absl::Status Check() override;

 private:
  const std::string url_;
  const int expected_status_;
  const absl::Duration timeout_;
};

}  // namespace drover::updater
