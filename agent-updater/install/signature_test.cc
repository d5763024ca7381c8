#include "agent-updater/install/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "common/status_testing.h"

namespace drover::updater {
namespace {

using drover::testing::IsError;

// A fresh key pair through OpenSSL's API: PEM public key and a signer.
class TestKey {
 public:
  explicit TestKey(const char* type = "ED25519") : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, type)) {}
  static TestKey Ec() {
    TestKey k(nullptr);
    k.key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    return k;
  }
  TestKey(TestKey&& other) noexcept : key_(std::exchange(other.key_, nullptr)) {}
  ~TestKey() { EVP_PKEY_free(key_); }

  std::string PublicPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key_);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(len));
    BIO_free(bio);
    return pem;
  }

  std::string Sign(const std::string& data) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_);
    std::string sig(64, '\0');
    size_t len = sig.size();
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(data.data()), data.size());
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return sig;
  }

 private:
  explicit TestKey(std::nullptr_t) : key_(nullptr) {}
  EVP_PKEY* key_;
};

TEST(Ed25519VerifierTest, GoodSignatureVerifies) {
  TestKey key;
  absl::StatusOr<Ed25519Verifier> v = Ed25519Verifier::FromPem(key.PublicPem());
  ASSERT_TRUE(v.ok()) << v.status();
  const std::string data("tarball\0bytes", 13);
  EXPECT_TRUE(v->Verify(data, key.Sign(data), "agent-1.0.0.tar.gz").ok());
  EXPECT_TRUE(v->Verify("", key.Sign(""), "empty").ok());
}

TEST(Ed25519VerifierTest, TamperedDataIsRefused) {
  TestKey key;
  Ed25519Verifier v = *Ed25519Verifier::FromPem(key.PublicPem(), "key.pem");
  const std::string sig = key.Sign("version 1.0.0");
  EXPECT_TRUE(IsError(v.Verify("version 1.0.1", sig, "agent-1.0.0.tar.gz"), absl::StatusCode::kPermissionDenied,
                      {"agent-1.0.0.tar.gz", "does not verify", "key.pem"}));
}

TEST(Ed25519VerifierTest, TamperedSignatureIsRefused) {
  TestKey key;
  Ed25519Verifier v = *Ed25519Verifier::FromPem(key.PublicPem());
  std::string sig = key.Sign("payload");
  sig[10] ^= 0x01;
  EXPECT_TRUE(IsError(v.Verify("payload", sig, "f.tar.gz"), absl::StatusCode::kPermissionDenied, {"f.tar.gz"}));
}

TEST(Ed25519VerifierTest, WrongKeyIsRefused) {
  TestKey signer;
  TestKey pinned;
  Ed25519Verifier v = *Ed25519Verifier::FromPem(pinned.PublicPem());
  EXPECT_TRUE(IsError(v.Verify("payload", signer.Sign("payload"), "f.tar.gz"), absl::StatusCode::kPermissionDenied,
                      {"f.tar.gz", "does not verify"}));
}

TEST(Ed25519VerifierTest, MalformedSignatureIsInvalidArgument) {
  TestKey key;
  Ed25519Verifier v = *Ed25519Verifier::FromPem(key.PublicPem());
  const std::string sig = key.Sign("payload");
  EXPECT_TRUE(IsError(v.Verify("payload", sig.substr(0, 63), "f.tar.gz"), absl::StatusCode::kInvalidArgument,
                      {"f.tar.gz", "63 bytes", "64"}));
  EXPECT_TRUE(IsError(v.Verify("payload", "", "f.tar.gz"), absl::StatusCode::kInvalidArgument, {"0 bytes"}));
}

TEST(Ed25519VerifierTest, MalformedKeysAreInvalidArgument) {
  EXPECT_TRUE(IsError(Ed25519Verifier::FromPem("not a key", "k.pem").status(), absl::StatusCode::kInvalidArgument,
                      {"k.pem", "not a PEM public key"}));
  std::string pem = TestKey().PublicPem();
  pem[40] = pem[40] == 'A' ? 'B' : 'A';  // corrupt the base64 body
  EXPECT_EQ(Ed25519Verifier::FromPem(pem).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsError(Ed25519Verifier::FromPem(TestKey::Ec().PublicPem(), "ec.pem").status(),
                      absl::StatusCode::kInvalidArgument, {"ec.pem", "Ed25519"}));
}

TEST(Ed25519VerifierTest, VerifyFile) {
  std::string dir = "/tmp/drover-signature-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  TestKey key;
  ASSERT_TRUE(WriteFileAtomically(dir + "/key.pub.pem", key.PublicPem()).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/a.tar.gz", "tarball").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/a.tar.gz.sig", key.Sign("tarball")).ok());
  absl::StatusOr<Ed25519Verifier> v = Ed25519Verifier::FromPemFile(dir + "/key.pub.pem");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->VerifyFile(dir + "/a.tar.gz", dir + "/a.tar.gz.sig").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/a.tar.gz", "tarbalL").ok());
  EXPECT_TRUE(IsError(v->VerifyFile(dir + "/a.tar.gz", dir + "/a.tar.gz.sig"), absl::StatusCode::kPermissionDenied,
                      {"a.tar.gz"}));
  EXPECT_TRUE(IsError(v->VerifyFile(dir + "/a.tar.gz", dir + "/missing.sig"), absl::StatusCode::kPermissionDenied,
                      {"no signature", "missing.sig"}));
  EXPECT_TRUE(IsError(Ed25519Verifier::FromPemFile(dir + "/nope.pem").status(), absl::StatusCode::kNotFound,
                      {"nope.pem"}));
}

}  // namespace
}  // namespace drover::updater
