// Image references as a Kubernetes updater is given them:
// host[:port]/repo/path[:tag][@sha256:<hex>].
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::oci {

struct ImageReference {
  std::string registry;    // "host" or "host:port" ("[::1]:5000" for IPv6)
  std::string repository;  // "team/app", lowercase path components
  std::string tag;         // empty when not given
  std::string digest;      // "sha256:<64 hex>", empty when not given

  // host/repo[:tag][@digest], as parsed.
  std::string ToString() const;
  // host/repo, for messages about the repository as a whole.
  std::string Name() const;
  // host/repo@digest: the form a Deployment is given once verified.
  std::string PinnedTo(absl::string_view digest) const;
};

// InvalidArgument quoting the bad part when `text` is not a reference with an
// explicit registry host. There is no default registry (no implicit
// docker.io/library/): a verifier must not guess where an image comes from.
// A host is the first path component when it holds a '.' or a ':' or is
// "localhost". Tag and digest are both optional; a digest must be sha256.
absl::StatusOr<ImageReference> ParseImageReference(absl::string_view text);

// InvalidArgument unless `repository` is lowercase path components joined by '/'.
absl::Status CheckRepository(absl::string_view repository);

// InvalidArgument unless `tag` is a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
absl::Status CheckTag(absl::string_view tag);

}  // namespace drover::oci
