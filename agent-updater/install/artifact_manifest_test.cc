// The pure manifest check: every way a manifest can be wrong, on bytes made
// with a real Ed25519 key.
#include "agent-updater/install/artifact_manifest.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include "common/status_testing.h"
#include "drover/artifact/v1/manifest.pb.h"

namespace drover::updater {
namespace {

using drover::testing::IsError;

std::string NewPrivatePem() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

class ArtifactManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Ed25519Signer> signer = Ed25519Signer::FromPem(NewPrivatePem());
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_.emplace(*signer);
    absl::StatusOr<std::string> pub = signer_->PublicKeyPem();
    ASSERT_TRUE(pub.ok());
    absl::StatusOr<Ed25519Verifier> verifier = Ed25519Verifier::FromPem(*pub, "release key");
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_.emplace(*verifier);
  }

  static ArtifactFacts Facts(const std::string& name = "demo-agent", const std::string& version = "13.0.0") {
    Sha256 h;
    h.Update("tarball bytes");
    return ArtifactFacts{name, version, 13, h.Finish()};
  }

  std::string Sign(const ArtifactFacts& facts) {
    absl::StatusOr<std::string> m = SignArtifactManifest(facts, *signer_);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : "";
  }

  // A manifest with arbitrary content, signed correctly.
  std::string SignRaw(const drover::artifact::v1::ArtifactManifest& manifest) {
    drover::artifact::v1::SignedArtifactManifest envelope;
    manifest.SerializeToString(envelope.mutable_manifest());
    envelope.set_signature(*signer_->Sign(absl::StrCat(kArtifactManifestContext, envelope.manifest())));
    return envelope.SerializeAsString();
  }

  absl::Status Check(const std::string& bytes, const std::string& name = "demo-agent",
                     const std::string& version = "13.0.0") {
    return VerifyArtifactManifest(bytes, name, version, *verifier_, "m.manifest").status();
  }

  std::optional<Ed25519Signer> signer_;
  std::optional<Ed25519Verifier> verifier_;
};

TEST_F(ArtifactManifestTest, RoundTrip) {
  const ArtifactFacts facts = Facts();
  absl::StatusOr<ArtifactFacts> got =
      VerifyArtifactManifest(Sign(facts), "demo-agent", "13.0.0", *verifier_, "m.manifest");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "demo-agent");
  EXPECT_EQ(got->version, "13.0.0");
  EXPECT_EQ(got->size_bytes, 13u);
  EXPECT_EQ(got->sha256, facts.sha256);
  EXPECT_EQ(HexEncode(got->sha256).size(), 64u);
}

// The attack: 13.0.0's manifest offered as 14.0.0's.
TEST_F(ArtifactManifestTest, AnotherVersionIsRefused) {
  EXPECT_TRUE(IsError(Check(Sign(Facts()), "demo-agent", "14.0.0"), absl::StatusCode::kPermissionDenied,
                      {"m.manifest", "\"13.0.0\"", "not \"14.0.0\"", "refusing"}));
}

TEST_F(ArtifactManifestTest, AnotherNameIsRefused) {
  EXPECT_TRUE(IsError(Check(Sign(Facts("other-agent"))), absl::StatusCode::kPermissionDenied,
                      {"\"other-agent\"", "not \"demo-agent\""}));
}

TEST_F(ArtifactManifestTest, AnyChangedByteIsRefused) {
  const std::string good = Sign(Facts());
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_EQ(Check(bad).code(), absl::StatusCode::kPermissionDenied) << "byte " << i;
  }
  EXPECT_EQ(Check(good.substr(0, good.size() - 1)).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(IsError(Check(""), absl::StatusCode::kPermissionDenied, {"m.manifest"}));
}

TEST_F(ArtifactManifestTest, AnotherKeyIsRefused) {
  absl::StatusOr<Ed25519Signer> other = Ed25519Signer::FromPem(NewPrivatePem());
  ASSERT_TRUE(other.ok());
  absl::StatusOr<std::string> m = SignArtifactManifest(Facts(), *other);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(IsError(Check(*m), absl::StatusCode::kPermissionDenied, {"does not verify", "release key"}));
}

// A signature over the bare manifest (no context), as a detached .sig of
// the same bytes would be, does not verify.
TEST_F(ArtifactManifestTest, SignatureWithoutContextIsRefused) {
  drover::artifact::v1::SignedArtifactManifest envelope;
  drover::artifact::v1::ArtifactManifest manifest;
  manifest.set_name("demo-agent");
  manifest.set_version("13.0.0");
  manifest.set_size_bytes(13);
  manifest.set_sha256(Facts().sha256);
  manifest.SerializeToString(envelope.mutable_manifest());
  envelope.set_signature(*signer_->Sign(envelope.manifest()));
  EXPECT_TRUE(IsError(Check(envelope.SerializeAsString()), absl::StatusCode::kPermissionDenied, {"does not verify"}));
}

TEST_F(ArtifactManifestTest, SignedButMalformedFieldsAreRefused) {
  drover::artifact::v1::ArtifactManifest m;
  m.set_name("demo-agent");
  m.set_version("13.0.0");
  m.set_size_bytes(13);
  m.set_sha256("short");
  EXPECT_TRUE(IsError(Check(SignRaw(m)), absl::StatusCode::kPermissionDenied, {"sha256 is 5 bytes"}));
  m.set_sha256(Facts().sha256);
  m.set_size_bytes(0);
  EXPECT_TRUE(IsError(Check(SignRaw(m)), absl::StatusCode::kPermissionDenied, {"size of 0"}));
  m.set_size_bytes(13);
  m.set_version("v13.0.0");
  EXPECT_TRUE(IsError(Check(SignRaw(m), "demo-agent", "v13.0.0"), absl::StatusCode::kPermissionDenied,
                      {"canonical"}));
  EXPECT_TRUE(IsError(Check(std::string(kMaxArtifactManifestBytes + 1, 'x')), absl::StatusCode::kPermissionDenied,
                      {"more than a manifest can be"}));
}

TEST_F(ArtifactManifestTest, SigningRefusesWhatCannotBePublished) {
  ArtifactFacts f = Facts();
  f.version = "1.0";
  EXPECT_EQ(SignArtifactManifest(f, *signer_).status().code(), absl::StatusCode::kInvalidArgument);
  f = Facts();
  f.name = "";
  EXPECT_EQ(SignArtifactManifest(f, *signer_).status().code(), absl::StatusCode::kInvalidArgument);
  f = Facts();
  f.sha256 = "x";
  EXPECT_EQ(SignArtifactManifest(f, *signer_).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsError(Ed25519Signer::FromPem("nope", "k.pem").status(), absl::StatusCode::kInvalidArgument,
                      {"k.pem"}));
}

TEST(Sha256Test, KnownDigest) {
  Sha256 h;
  h.Update("ab");
  h.Update("c");
  EXPECT_EQ(HexEncode(h.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace drover::updater
