// Whether the managed agent is healthy right now.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace drover::updater {

class HealthCheck {
 public:
  virtual ~HealthCheck() = default;
  // "http", "systemd", "command".
  virtual std::string Name() const = 0;
  // OK when healthy; otherwise a status whose message says why (the reason
  // reported with a roll-back). Aborted: unhealthy for good (a crash loop
  // past its budget), so a watch stops waiting at once. Never blocks beyond
  // the check's timeout.
  virtual absl::Status Check() = 0;
};

}  // namespace drover::updater
