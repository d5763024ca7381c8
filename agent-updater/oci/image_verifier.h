// The check a Kubernetes updater makes before it deploys an image: the tag
// resolved to a digest, that digest's cosign signature verified, and the
// image named by digest from then on.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent-updater/oci/cosign.h"
#include "agent-updater/oci/image_reference.h"
#include "agent-updater/oci/registry_client.h"

namespace drover::oci {

struct VerifiedImage {
  std::string digest;            // sha256:<hex> the tag pointed at (or the reference pinned)
  std::string pinned_reference;  // host/repo@sha256:<hex>: what to deploy
  std::string signature_digest;  // the .sig manifest that verified
};

// With a digest in `image` that digest is verified (its tag, if any, is not
// consulted); otherwise its tag is resolved first. InvalidArgument when
// `image` has neither or names another registry than `registry`'s; the
// client's and verifier's errors otherwise (NotFound for an unknown tag,
// PermissionDenied for a refused signature, Unavailable for a registry
// that cannot be reached).
absl::StatusOr<VerifiedImage> VerifyImage(RegistryClient& registry, const CosignVerifier& verifier,
                                          const ImageReference& image);

}  // namespace drover::oci
