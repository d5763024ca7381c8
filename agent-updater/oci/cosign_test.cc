#include "agent-updater/oci/cosign.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/oci/digest.h"
#include "common/status_testing.h"

namespace drover::oci {
namespace {

using ::drover::testing::IsError;

const std::string kDigest = Sha256Digest("the image manifest");
const std::string kOtherDigest = Sha256Digest("another image manifest");

std::string Payload(const std::string& digest, const std::string& type = std::string(kCosignPayloadType)) {
  return absl::StrCat(R"({"critical":{"identity":{"docker-reference":"127.0.0.1/app"},"image":)",
                      R"({"docker-manifest-digest":")", digest, R"("},"type":")", type, R"("},"optional":null})");
}

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Key NewKey(const char* curve = "P-256") { return Key(EVP_EC_gen(curve), &EVP_PKEY_free); }

std::string PublicPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

// What `openssl dgst -sha256 -sign KEY payload | base64` gives.
std::string SignBase64(EVP_PKEY* key, const std::string& payload) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(payload.data()),
                           payload.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(payload.data()), payload.size()), 1);
  sig.resize(len);
  return absl::Base64Escape(sig);
}

TEST(SimpleSigningPayloadTest, AcceptsAPayloadForTheDigest) {
  EXPECT_TRUE(CheckSimpleSigningPayload(Payload(kDigest), kDigest).ok());
  EXPECT_EQ(SignatureTag(kDigest), absl::StrCat("sha256-", DigestHex(kDigest), ".sig"));
}

TEST(SimpleSigningPayloadTest, RefusesAPayloadForAnotherDigestNamingBoth) {
  EXPECT_TRUE(IsError(CheckSimpleSigningPayload(Payload(kOtherDigest), kDigest), absl::StatusCode::kPermissionDenied,
                      {"signature is for another digest", kOtherDigest, kDigest}));
}

TEST(SimpleSigningPayloadTest, RefusesMalformedPayloads) {
  EXPECT_TRUE(IsError(CheckSimpleSigningPayload("not json", kDigest), absl::StatusCode::kPermissionDenied,
                      {"malformed signature payload", "not a JSON object"}));
  EXPECT_TRUE(IsError(CheckSimpleSigningPayload("[1]", kDigest), absl::StatusCode::kPermissionDenied,
                      {"not a JSON object"}));
  EXPECT_TRUE(IsError(CheckSimpleSigningPayload(R"({"critical":{"type":"cosign container image signature"}})",
                                                kDigest),
                      absl::StatusCode::kPermissionDenied, {"critical.image.docker-manifest-digest"}));
  EXPECT_TRUE(IsError(
      CheckSimpleSigningPayload(absl::StrCat(R"({"critical":{"image":{"docker-manifest-digest":")", kDigest,
                                             R"("}}})"),
                                kDigest),
      absl::StatusCode::kPermissionDenied, {"no string critical.type"}));
  EXPECT_TRUE(IsError(CheckSimpleSigningPayload(Payload(kDigest, "atomic container signature"), kDigest),
                      absl::StatusCode::kPermissionDenied, {"critical.type \"atomic container signature\""}));
  EXPECT_TRUE(IsError(CheckSimpleSigningPayload(std::string(kMaxPayloadBytes + 1, ' '), kDigest),
                      absl::StatusCode::kPermissionDenied, {"malformed", "more than"}));
}

TEST(CosignVerifierTest, VerifiesASignatureByThePinnedKey) {
  Key key = NewKey();
  absl::StatusOr<CosignVerifier> verifier = CosignVerifier::FromPem(PublicPem(key.get()), "cosign.pub");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const std::string payload = Payload(kDigest);
  EXPECT_TRUE(verifier->VerifySignature(payload, SignBase64(key.get(), payload)).ok());
}

TEST(CosignVerifierTest, RefusesATamperedPayloadOrSignatureAndAnotherKey) {
  Key key = NewKey();
  Key other = NewKey();
  absl::StatusOr<CosignVerifier> verifier = CosignVerifier::FromPem(PublicPem(key.get()), "cosign.pub");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const std::string payload = Payload(kDigest);
  const std::string signature = SignBase64(key.get(), payload);
  EXPECT_TRUE(IsError(verifier->VerifySignature(Payload(kOtherDigest), signature),
                      absl::StatusCode::kPermissionDenied, {"bad signature", "cosign.pub"}));
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(signature, &der));
  der[der.size() - 1] ^= 0x01;
  EXPECT_TRUE(IsError(verifier->VerifySignature(payload, absl::Base64Escape(der)),
                      absl::StatusCode::kPermissionDenied, {"bad signature"}));
  EXPECT_TRUE(IsError(verifier->VerifySignature(payload, SignBase64(other.get(), payload)),
                      absl::StatusCode::kPermissionDenied, {"another key"}));
  EXPECT_TRUE(IsError(verifier->VerifySignature(payload, "***"), absl::StatusCode::kInvalidArgument,
                      {"not base64"}));
  EXPECT_TRUE(IsError(verifier->VerifySignature(payload, ""), absl::StatusCode::kInvalidArgument, {"not base64"}));
}

TEST(CosignVerifierTest, RefusesKeysThatAreNotP256) {
  EXPECT_TRUE(IsError(CosignVerifier::FromPem("junk", "k.pem").status(), absl::StatusCode::kInvalidArgument,
                      {"k.pem is not a PEM public key"}));
  Key p384 = NewKey("P-384");
  EXPECT_TRUE(IsError(CosignVerifier::FromPem(PublicPem(p384.get()), "k.pem").status(),
                      absl::StatusCode::kInvalidArgument, {"secp384r1", "P-256"}));
  Key ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), &EVP_PKEY_free);
  EXPECT_TRUE(IsError(CosignVerifier::FromPem(PublicPem(ed.get()), "k.pem").status(),
                      absl::StatusCode::kInvalidArgument, {"ED25519", "P-256"}));
  EXPECT_TRUE(IsError(CosignVerifier::FromPemFile("/nonexistent/cosign.pub").status(), absl::StatusCode::kNotFound,
                      {"/nonexistent/cosign.pub"}));
}

}  // namespace
}  // namespace drover::oci
