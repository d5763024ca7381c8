// Cosign signatures of an image digest, checked against a pinned ECDSA P-256
// key: the manifest tagged sha256-<hex>.sig beside the image, one layer per
// signature, each a simple-signing payload with its signature in an annotation.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::oci {

class RegistryClient;

inline constexpr absl::string_view kSimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr absl::string_view kSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr absl::string_view kCosignPayloadType = "cosign container image signature";
// Simple-signing payloads are a few hundred bytes; anything far larger is not one.
inline constexpr size_t kMaxPayloadBytes = 64 * 1024;

// "sha256-<hex>.sig": where cosign stores the signatures of `digest`.
std::string SignatureTag(absl::string_view digest);

// OK when `payload` is a simple-signing JSON document for `digest`:
// critical.image.docker-manifest-digest equals it and critical.type is
// kCosignPayloadType. PermissionDenied saying which field is wrong (a
// payload for another digest says so, naming both).
absl::Status CheckSimpleSigningPayload(absl::string_view payload, absl::string_view digest);

struct VerifiedSignature {
  std::string digest;            // the image digest the signature covers
  std::string signature_digest;  // digest of the .sig manifest
  int layer = -1;                // index of the layer that verified
};

class CosignVerifier {
 public:
  // InvalidArgument unless `pem` is a PEM ECDSA P-256 public key; `origin`
  // (e.g. the file name) is quoted in messages.
  static absl::StatusOr<CosignVerifier> FromPem(absl::string_view pem, absl::string_view origin = "public key");
  // The same from a file (its read error, e.g. NotFound, naming it).
  static absl::StatusOr<CosignVerifier> FromPemFile(const std::string& path);

  // OK when `signature_base64` (base64 of a DER ECDSA signature, as in the
  // cosign annotation) signs SHA-256(`payload`) with the pinned key;
  // PermissionDenied otherwise, InvalidArgument for bad base64.
  absl::Status VerifySignature(absl::string_view payload, absl::string_view signature_base64) const;

  // Fetches the signature manifest of `digest` in `repository` and accepts
  // when at least one layer's signature verifies and its payload names
  // `digest`. PermissionDenied saying why for every refusal (no signature
  // tag, no layers, signed for another digest, bad signature or another
  // key, malformed payload); Unavailable and other registry errors as the
  // client reports them, so a caller can tell "retry" from "refused".
  absl::StatusOr<VerifiedSignature> Verify(RegistryClient& registry, absl::string_view repository,
                                           absl::string_view digest) const;

  const std::string& origin() const { return origin_; }

 private:
  CosignVerifier(std::shared_ptr<void> key, std::string origin) : key_(std::move(key)), origin_(std::move(origin)) {}

  std::shared_ptr<void> key_;  // EVP_PKEY, immutable once loaded
  std::string origin_;
};

}  // namespace drover::oci
