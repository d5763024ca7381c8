// From a target version to the image the agent's container runs, and the
// JSON patch that changes it only if nobody else did meanwhile. Pure.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::updater::kube {

// The repository of `image` without tag or digest: "reg:5000/team/app".
std::string ImageRepository(absl::string_view image);
// The tag of `image` ("" when none); a digest after it is ignored.
std::string ImageTag(absl::string_view image);

// The version an image runs: its tag without `tag_prefix`, as normalised
// semver. InvalidArgument when the image has no tag (pinned by digest
// alone: the version cannot be told) or the tag is not prefix+version.
absl::StatusOr<std::string> VersionOfImage(absl::string_view image, absl::string_view tag_prefix);

// `image`'s repository with tag prefix+version: what to resolve and verify.
std::string ImageForVersion(absl::string_view image, absl::string_view version, absl::string_view tag_prefix);

// "repo:tag@sha256:..." from the tagged reference and its verified digest:
// the runtime pulls by digest; the tag is kept so the version stays readable.
std::string PinnedImage(absl::string_view tagged_image, absl::string_view digest);

// application/json-patch+json: test that container `index` is still named
// `container` and runs `expected_image`, then replace its image. A server
// answers 409 or 422 when a test fails, and applies nothing.
std::string BuildImagePatch(size_t index, absl::string_view container, absl::string_view expected_image,
                            absl::string_view new_image);

}  // namespace drover::updater::kube
