// Signed artifact manifests (proto/drover/artifact/v1/manifest.proto): what
// binds a tarball's name, version, size and SHA-256 under the release key.
// VerifyArtifactManifest is a pure function of its inputs (no I/O), so a
// fuzzer can drive it with arbitrary bytes.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent-updater/install/signature.h"

namespace drover::updater {

// Signed before the manifest bytes: keeps any other object signed with the
// same key (a tarball's old .sig, target metadata) from passing for one.
inline constexpr absl::string_view kArtifactManifestContext("drover artifact manifest v1\0", 28);
// A manifest is a few hundred bytes; anything much larger is not one.
inline constexpr size_t kMaxArtifactManifestBytes = 4096;
inline constexpr size_t kSha256Size = 32;

struct ArtifactFacts {
  std::string name;
  std::string version;  // canonical semver
  uint64_t size_bytes = 0;
  std::string sha256;  // 32 raw bytes
};

// The lower-case hex form of raw bytes (for messages and markers).
std::string HexEncode(absl::string_view bytes);

// OK with the facts when `manifest_file` (the bytes of a .manifest file) is a
// SignedArtifactManifest whose signature verifies with `key` and that names
// exactly `expected_name` and `expected_version` (canonical semver). Every
// refusal is PermissionDenied and names `origin` (the file or URL) and what
// was wrong: not a manifest, bad signature, another name or version, a size
// or digest that cannot be right.
absl::StatusOr<ArtifactFacts> VerifyArtifactManifest(absl::string_view manifest_file,
                                                     absl::string_view expected_name,
                                                     absl::string_view expected_version, const Ed25519Verifier& key,
                                                     absl::string_view origin);

// The release side: the bytes of a .manifest file for `facts`, signed by
// `signer`. InvalidArgument when the facts are not publishable (empty name,
// non-canonical version, digest not 32 bytes).
absl::StatusOr<std::string> SignArtifactManifest(const ArtifactFacts& facts, const Ed25519Signer& signer);

// Streaming SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(absl::string_view data);
  // The 32-byte digest; the object must not be used afterwards.
  std::string Finish();

 private:
  void* ctx_;  // EVP_MD_CTX
};

}  // namespace drover::updater
