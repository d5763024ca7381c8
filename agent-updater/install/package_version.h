// Maps between Drover's semver versions and the version strings of .deb and
// .rpm packages, and condenses package-manager output for error messages.
//
// A semver pre-release "1.4.0-rc.1" is packaged as "1.4.0~rc.1": in both
// dpkg and rpm a tilde sorts below the release, as the pre-release does in
// semver, while a hyphen means something else (the Debian revision; not
// allowed at all in an rpm Version).
#pragma once

#include "common/subprocess.h"

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/semver.h"

namespace drover::updater {

// "1.4.0-rc.1+b5" -> "1.4.0~rc.1+b5"; "1.2.3" stays "1.2.3".
std::string PackageVersionFromSemver(const Semver& version);

// A Debian version "[epoch:]upstream[-revision]" as semver: the epoch and the
// revision are dropped ("1:1.2.3-2" -> "1.2.3") and "~" becomes the
// pre-release "-". FailedPrecondition, quoting the version, when the upstream
// part is not semver: Drover manages semver-versioned agents only.
absl::StatusOr<Semver> SemverFromDebianVersion(absl::string_view debian_version);

// An rpm %{VERSION} (no epoch, no release) as semver, "~" -> "-".
// FailedPrecondition when it is not semver.
absl::StatusOr<Semver> SemverFromRpmVersion(absl::string_view rpm_version);

// What to quote from a failed package-manager run: its error and warning
// lines ("E: ...", "W: ...", "Error: ...", and lines about signatures) when
// there are any, else its last
// lines; at most `max_chars`, on one line ("; "-separated).
std::string OutputForMessage(absl::string_view output, size_t max_chars = 1500);

// Runs a package tool; a run killed at its timeout is DeadlineExceeded with
// the command and its output, so callers only judge completed runs.
absl::StatusOr<CommandOutput> RunPackageTool(const std::vector<std::string>& argv, const CommandOptions& options);

}  // namespace drover::updater
