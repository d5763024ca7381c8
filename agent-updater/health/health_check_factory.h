// Builds the configured HealthCheck, refusing a bad configuration with a
// message naming the field.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent-updater/health/health_check.h"
#include "drover/v1/updater_config.pb.h"

namespace drover::updater {

// InvalidArgument naming the offending field under `field_path` (e.g.
// "agent.health_check.http.url"). The timeout defaults to 5 s; an HTTP
// check's expected status to 200.
absl::StatusOr<std::unique_ptr<HealthCheck>> MakeHealthCheck(const drover::v1::HealthCheck& config,
                                                             absl::string_view field_path = "agent.health_check");

}  // namespace drover::updater
