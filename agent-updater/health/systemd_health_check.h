// Healthy when a systemd unit is active (`systemctl is-active UNIT`).
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent-updater/health/health_check.h"

namespace drover::updater {

class SystemdHealthCheck final : public HealthCheck {
 public:
  // `systemctl` is the binary to run (a test may substitute a fake).
  SystemdHealthCheck(std::string unit, absl::Duration timeout, std::string systemctl = "systemctl")
      : unit_(std::move(unit)), timeout_(timeout), systemctl_(std::move(systemctl)) {}

  std::string Name() const override { return "systemd"; }
  // Unavailable with the unit's state ("inactive", "failed", ...) or
  // systemctl's error; DeadlineExceeded after the timeout.
  absl::Status Check() override;

 private:
  const std::string unit_;
  const absl::Duration timeout_;
  const std::string systemctl_;
};

}  // namespace drover::updater
