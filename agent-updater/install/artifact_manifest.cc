#include "agent-updater/install/artifact_manifest.h"

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "common/semver.h"
#include "drover/artifact/v1/manifest.pb.h"

namespace drover::updater {
namespace {

absl::Status Refuse(absl::string_view origin, absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("artifact manifest ", origin, ": ", why, "; refusing the artifact"));
}

std::string SignedBytes(absl::string_view manifest) { return absl::StrCat(kArtifactManifestContext, manifest); }

// The canonical form of `version`, or an error when it is not one.
absl::StatusOr<std::string> CanonicalVersion(absl::string_view version) {
  absl::StatusOr<Semver> v = Semver::Parse(version);
  if (!v.ok()) return v.status();
  if (v->ToString() != version) {
    return absl::InvalidArgumentError(absl::StrCat("version \"", version, "\" is not in canonical form (\"",
                                                   v->ToString(), "\")"));
  }
  return v->ToString();
}

}  // namespace

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

absl::StatusOr<ArtifactFacts> VerifyArtifactManifest(absl::string_view manifest_file,
                                                     absl::string_view expected_name,
                                                     absl::string_view expected_version, const Ed25519Verifier& key,
                                                     absl::string_view origin) {
  if (manifest_file.size() > kMaxArtifactManifestBytes) {
    return Refuse(origin, absl::StrCat("it is ", manifest_file.size(), " bytes, more than a manifest can be (",
                                       kMaxArtifactManifestBytes, ")"));
  }
  drover::artifact::v1::SignedArtifactManifest envelope;
  if (!envelope.ParseFromArray(manifest_file.data(), static_cast<int>(manifest_file.size()))) {
    return Refuse(origin, "it is not a signed artifact manifest (made by `drover-artifact sign`)");
  }
  absl::Status s = key.Verify(SignedBytes(envelope.manifest()), envelope.signature(), origin);
  if (!s.ok()) return Refuse(origin, s.message());

  // Signed by the release key from here on: still checked field by field, a
  // signed manifest for another artifact must not install this one.
  drover::artifact::v1::ArtifactManifest manifest;
  if (!manifest.ParseFromString(envelope.manifest())) {
    return Refuse(origin, "its signed content is not an ArtifactManifest");
  }
  if (manifest.name() != expected_name) {
    return Refuse(origin, absl::StrCat("it is for artifact \"", manifest.name(), "\", not \"", expected_name, "\""));
  }
  if (manifest.version() != expected_version) {
    return Refuse(origin, absl::StrCat("it is for version \"", manifest.version(), "\" of ", manifest.name(),
                                       ", not \"", expected_version,
                                       "\" (a renamed artifact is not another version)"));
  }
  if (absl::StatusOr<std::string> v = CanonicalVersion(manifest.version()); !v.ok()) {
    return Refuse(origin, v.status().message());
  }
  if (manifest.sha256().size() != kSha256Size) {
    return Refuse(origin, absl::StrCat("its sha256 is ", manifest.sha256().size(), " bytes, not ", kSha256Size));
  }
  if (manifest.size_bytes() == 0) return Refuse(origin, "it gives the artifact a size of 0 bytes");
  return ArtifactFacts{manifest.name(), manifest.version(), manifest.size_bytes(), manifest.sha256()};
}

absl::StatusOr<std::string> SignArtifactManifest(const ArtifactFacts& facts, const Ed25519Signer& signer) {
  if (facts.name.empty()) return absl::InvalidArgumentError("artifact name is empty");
  if (absl::StatusOr<std::string> v = CanonicalVersion(facts.version); !v.ok()) return v.status();
  if (facts.sha256.size() != kSha256Size) {
    return absl::InvalidArgumentError(absl::StrCat("sha256 is ", facts.sha256.size(), " bytes, not ", kSha256Size));
  }
  if (facts.size_bytes == 0) return absl::InvalidArgumentError("artifact is empty (0 bytes)");
  drover::artifact::v1::ArtifactManifest manifest;
  manifest.set_name(facts.name);
  manifest.set_version(facts.version);
  manifest.set_size_bytes(facts.size_bytes);
  manifest.set_sha256(facts.sha256);
  drover::artifact::v1::SignedArtifactManifest envelope;
  if (!manifest.SerializeToString(envelope.mutable_manifest())) return absl::InternalError("serialising a manifest");
  absl::StatusOr<std::string> signature = signer.Sign(SignedBytes(envelope.manifest()));
  if (!signature.ok()) return signature.status();
  envelope.set_signature(*signature);
  std::string out;
  if (!envelope.SerializeToString(&out)) return absl::InternalError("serialising a signed manifest");
  if (out.size() > kMaxArtifactManifestBytes) {
    return absl::InvalidArgumentError(absl::StrCat("manifest would be ", out.size(), " bytes, over the limit of ",
                                                   kMaxArtifactManifestBytes, " (name too long?)"));
  }
  return out;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Only an allocation failure can fail here; Finish() then reports nothing
  // that could match a 32-byte digest.
  if (ctx_ != nullptr) EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Update(absl::string_view data) {
  if (ctx_ != nullptr) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

std::string Sha256::Finish() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (ctx_ == nullptr || EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &len) != 1) return std::string();
  return std::string(reinterpret_cast<char*>(digest), len);
}

}  // namespace drover::updater
