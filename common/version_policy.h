// The version rules: an agent never runs above the control plane, and never
// more than one major version below it.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "common/semver.h"

namespace drover {

// OK when `version` may run against control plane `control_plane`; otherwise
// FailedPrecondition naming both versions. `what` names the checked version
// in the message ("target version", "agent version").
absl::Status CheckVersionPolicy(const Semver& version, const Semver& control_plane,
                                absl::string_view what = "version");

// Empty when in policy; otherwise a short reason ("above control plane 15.0.0").
std::string OutOfPolicyReason(const Semver& version, const Semver& control_plane);

}  // namespace drover
