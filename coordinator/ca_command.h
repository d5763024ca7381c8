// `drover-coordinator ca init`: the fleet's CA and the coordinator's server
// certificate, as files the serve flags then name.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover {

struct CaInitOptions {
  std::string dir;
  std::string fleet;
  // Names for the server certificate besides localhost and 127.0.0.1.
  std::vector<std::string> server_names;
  absl::Duration ca_validity = absl::Hours(24 * 365 * 10);
  absl::Duration server_validity = absl::Hours(24 * 365);
};

// Writes ca.pem, ca.key, server.pem and server.key (keys 0600) into
// options.dir (created 0700 if missing). Refuses to overwrite an existing
// CA: every host certificate depends on it. Returns what to pass to serve.
absl::StatusOr<std::string> InitCa(const CaInitOptions& options, absl::Time now);

}  // namespace drover
