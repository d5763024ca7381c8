#include "absl/strings/string_view.h"
#include "common/version_policy.h"

#include "absl/strings/str_cat.h"

namespace drover {

std::string OutOfPolicyReason(const Semver& version, const Semver& control_plane) {
  if (version > control_plane) {
    return absl::StrCat(version.ToString(), " is above control-plane version ",
                        control_plane.ToString());
  }
  if (control_plane.major() > 0 && version.major() < control_plane.major() - 1) {
    return absl::StrCat(version.ToString(), " is more than one major version below control-plane version ",
                        control_plane.ToString());
  }
  return "";
}

absl::Status CheckVersionPolicy(const Semver& version, const Semver& control_plane,
                                absl::string_view what) {
  std::string reason = OutOfPolicyReason(version, control_plane);
  if (reason.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      what, " ", reason, ": agents must never run above the control plane nor more than one major "
      "version below it"));
}

}  // namespace drover
