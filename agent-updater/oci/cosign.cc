#include "agent-updater/oci/cosign.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent-updater/oci/digest.h"
#include "agent-updater/oci/registry_client.h"
#include "common/atomic_file.h"
#include "common/pki/openssl_error.h"

namespace drover::oci {
namespace {

void FreeKey(void* key) { EVP_PKEY_free(static_cast<EVP_PKEY*>(key)); }

// The string at a JSON path, or nullptr.
const nlohmann::json* Child(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

}  // namespace

std::string SignatureTag(absl::string_view digest) {
  return absl::StrCat("sha256-", DigestHex(digest), ".sig");
}

absl::Status CheckSimpleSigningPayload(absl::string_view payload, absl::string_view digest) {
  if (payload.size() > kMaxPayloadBytes) {
    return absl::PermissionDeniedError(
        absl::StrCat("malformed signature payload: ", payload.size(), " bytes, more than ", kMaxPayloadBytes));
  }
  const nlohmann::json doc = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::PermissionDeniedError("malformed signature payload: not a JSON object");
  }
  const nlohmann::json* critical = Child(doc, "critical");
  const nlohmann::json* image = critical != nullptr ? Child(*critical, "image") : nullptr;
  const nlohmann::json* signed_digest = image != nullptr ? Child(*image, "docker-manifest-digest") : nullptr;
  const nlohmann::json* type = critical != nullptr ? Child(*critical, "type") : nullptr;
  if (signed_digest == nullptr || !signed_digest->is_string()) {
    return absl::PermissionDeniedError(
        "malformed signature payload: no string critical.image.docker-manifest-digest");
  }
  if (type == nullptr || !type->is_string()) {
    return absl::PermissionDeniedError("malformed signature payload: no string critical.type");
  }
  if (type->get<std::string>() != kCosignPayloadType) {
    return absl::PermissionDeniedError(absl::StrCat("signature payload has critical.type ",
                                                    QuoteShort(type->get<std::string>()), ", not \"",
                                                    kCosignPayloadType, "\""));
  }
  if (signed_digest->get<std::string>() != digest) {
    return absl::PermissionDeniedError(absl::StrCat("signature is for another digest: the payload signs ",
                                                    QuoteShort(signed_digest->get<std::string>()), ", not ", digest));
  }
  return absl::OkStatus();
}

absl::StatusOr<CosignVerifier> CosignVerifier::FromPem(absl::string_view pem, absl::string_view origin) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(origin, " is not a PEM public key (", OpenSslError(),
                                                   "); expected `openssl ec -pubout` output (cosign.pub)"));
  }
  std::shared_ptr<void> owned(key, &FreeKey);
  char group[64] = {0};
  size_t group_len = 0;
  if (EVP_PKEY_id(key) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len) != 1 ||
      absl::string_view(group, group_len) != "prime256v1") {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(origin, " holds a ", OBJ_nid2sn(EVP_PKEY_id(key)),
                                                   group_len > 0 ? absl::StrCat(" ", group) : std::string(),
                                                   " key; an ECDSA P-256 (prime256v1) public key is required"));
  }
  return CosignVerifier(std::move(owned), std::string(origin));
}

absl::StatusOr<CosignVerifier> CosignVerifier::FromPemFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) {
    return absl::Status(pem.status().code(), absl::StrCat("cannot read public key file: ", pem.status().message()));
  }
  return FromPem(*pem, absl::StrCat("public key file ", path));
}

absl::Status CosignVerifier::VerifySignature(absl::string_view payload, absl::string_view signature_base64) const {
  std::string der;
  if (signature_base64.empty() || !absl::Base64Unescape(signature_base64, &der) || der.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("signature annotation ", QuoteShort(signature_base64, 24),
                                                   " is not base64"));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (ctx == nullptr) return absl::InternalError("EVP_MD_CTX_new failed");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(key_.get())) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestVerifyInit: ", OpenSslError()));
  }
  const int r = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                                 reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
  ERR_clear_error();
  if (r != 1) {
    return absl::PermissionDeniedError(absl::StrCat(
        "bad signature: it does not verify with the pinned key (", origin_,
        "); the signature was altered or made with another key"));
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifiedSignature> CosignVerifier::Verify(RegistryClient& registry, absl::string_view repository,
                                                         absl::string_view digest) const {
  if (absl::Status s = CheckSha256Digest(digest, "image digest"); !s.ok()) return s;
  const std::string tag = SignatureTag(digest);
  const std::string image = absl::StrCat(registry.registry(), "/", repository, "@", digest);
  const auto refuse = [&](absl::string_view why) {
    return absl::PermissionDeniedError(absl::StrCat("cosign signature of ", image, " refused: ", why));
  };
  absl::StatusOr<Manifest> manifest = registry.GetManifest(repository, tag);
  if (absl::IsNotFound(manifest.status())) {
    return refuse(absl::StrCat("no signature (tag ", tag, " not found); was the image signed with cosign?"));
  }
  if (!manifest.ok()) return manifest.status();
  const nlohmann::json doc = nlohmann::json::parse(manifest->body, nullptr, /*allow_exceptions=*/false);
  const nlohmann::json* layers = Child(doc, "layers");
  if (layers == nullptr || !layers->is_array()) {
    return refuse(absl::StrCat("signature manifest ", manifest->digest, " is not an image manifest with layers"));
  }
  std::vector<std::string> reasons;
  for (size_t i = 0; i < layers->size(); ++i) {
    const nlohmann::json& layer = (*layers)[i];
    const nlohmann::json* media_type = Child(layer, "mediaType");
    const nlohmann::json* layer_digest = Child(layer, "digest");
    const nlohmann::json* size = Child(layer, "size");
    const nlohmann::json* annotations = Child(layer, "annotations");
    const nlohmann::json* signature = annotations != nullptr ? Child(*annotations, std::string(kSignatureAnnotation).c_str())
                                                             : nullptr;
    const auto skip = [&](absl::string_view why) { reasons.push_back(absl::StrCat("layer ", i, ": ", why)); };
    if (media_type == nullptr || !media_type->is_string() || media_type->get<std::string>() != kSimpleSigningMediaType) {
      skip(absl::StrCat("media type is not ", kSimpleSigningMediaType));
      continue;
    }
    if (layer_digest == nullptr || !layer_digest->is_string() || !IsSha256Digest(layer_digest->get<std::string>())) {
      skip("no sha256 layer digest");
      continue;
    }
    if (size == nullptr || !size->is_number_unsigned() || size->get<uint64_t>() > kMaxPayloadBytes) {
      skip(absl::StrCat("layer size missing or above ", kMaxPayloadBytes, " bytes"));
      continue;
    }
    if (signature == nullptr || !signature->is_string()) {
      skip(absl::StrCat("no ", kSignatureAnnotation, " annotation"));
      continue;
    }
    absl::StatusOr<std::string> payload = registry.GetBlob(repository, layer_digest->get<std::string>(),
                                                           kMaxPayloadBytes);
    if (absl::IsUnavailable(payload.status()) || absl::IsDeadlineExceeded(payload.status())) {
      return payload.status();  // cannot tell yet: the caller may retry
    }
    if (!payload.ok()) {
      skip(payload.status().message());
      continue;
    }
    if (payload->size() != size->get<uint64_t>()) {
      skip(absl::StrCat("payload is ", payload->size(), " bytes, the manifest says ", size->get<uint64_t>()));
      continue;
    }
    if (absl::Status s = VerifySignature(*payload, signature->get<std::string>()); !s.ok()) {
      skip(s.message());
      continue;
    }
    if (absl::Status s = CheckSimpleSigningPayload(*payload, digest); !s.ok()) {
      skip(s.message());
      continue;
    }
    return VerifiedSignature{std::string(digest), manifest->digest, static_cast<int>(i)};
  }
  if (reasons.empty()) return refuse(absl::StrCat("signature manifest ", manifest->digest, " has no layers"));
  return refuse(absl::StrJoin(reasons, "; "));
}

}  // namespace drover::oci
