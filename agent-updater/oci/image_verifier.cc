#include "agent-updater/oci/image_verifier.h"

#include "absl/strings/str_cat.h"

namespace drover::oci {

absl::StatusOr<VerifiedImage> VerifyImage(RegistryClient& registry, const CosignVerifier& verifier,
                                          const ImageReference& image) {
  if (image.registry != registry.registry()) {
    return absl::InvalidArgumentError(absl::StrCat("image ", image.ToString(), " is not on registry ",
                                                   registry.registry(), " (the client's credentials are for that one)"));
  }
  if (image.tag.empty() && image.digest.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("image ", image.ToString(), " names neither a tag nor a digest; add :TAG or @sha256:..."));
  }
  std::string digest = image.digest;
  if (digest.empty()) {
    absl::StatusOr<std::string> resolved = registry.ResolveTag(image.repository, image.tag);
    if (!resolved.ok()) return resolved.status();
    digest = *std::move(resolved);
  }
  absl::StatusOr<VerifiedSignature> signature = verifier.Verify(registry, image.repository, digest);
  if (!signature.ok()) return signature.status();
  return VerifiedImage{digest, image.PinnedTo(digest), signature->signature_digest};
}

}  // namespace drover::oci
