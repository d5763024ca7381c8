// Healthy when a command (argv, no shell) exits 0 within the timeout.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent-updater/health/health_check.h"

namespace drover::updater {

class CommandHealthCheck final : public HealthCheck {
 public:
  CommandHealthCheck(std::vector<std::string> argv, absl::Duration timeout)
      : argv_(std::move(argv)), timeout_(timeout) {}

  std::string Name() const override { return "command"; }
  // Unavailable with the exit code and the last line of output;
  // DeadlineExceeded when it ran past the timeout (it is killed).
  absl::Status Check() override;

 private:
  const std::vector<std::string> argv_;
  const absl::Duration timeout_;
};

}  // namespace drover::updater
