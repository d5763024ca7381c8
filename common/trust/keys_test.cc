#include "common/trust/keys.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::trust {
namespace {

using ::drover::testing::IsError;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir ? dir : "/tmp", "/trust_keys_test_", ::getpid(), "_", name);
}

TEST(SigningKeyTest, SignsWhatVerifies) {
  absl::StatusOr<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<std::string> sig = key->Sign("hello");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(VerifyEd25519(key->public_key(), "hello", *sig).ok());
  EXPECT_TRUE(IsError(VerifyEd25519(key->public_key(), "hellO", *sig), absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(IsError(VerifyEd25519(key->public_key(), "hello", sig->substr(1)), absl::StatusCode::kPermissionDenied,
                      {"63 bytes"}));
  EXPECT_EQ(key->key_id().size(), 32u);
}

TEST(SigningKeyTest, PemRoundTripAndPublicKeyFromEither) {
  absl::StatusOr<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> pem = key->PrivatePem();
  ASSERT_TRUE(pem.ok());
  absl::StatusOr<SigningKey> again = SigningKey::FromPem(*pem, "test");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->key_id(), key->key_id());
  absl::StatusOr<std::string> pub = RawPublicKeyFromPem(PublicKeyPem(key->public_key()), "pub");
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(*pub, key->public_key());
  EXPECT_TRUE(IsError(RawPublicKeyFromPem("junk", "the file x").status(), absl::StatusCode::kInvalidArgument,
                      {"the file x"}));
}

TEST(SigningKeyTest, RefusesAKeyFileOthersCanRead) {
  absl::StatusOr<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  const std::string path = TempPath("key.pem");
  {
    std::ofstream out(path);
    out << *key->PrivatePem();
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_TRUE(IsError(SigningKey::FromPemFile(path).status(), absl::StatusCode::kFailedPrecondition,
                      {path, "0644", "chmod 600"}));
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  absl::StatusOr<SigningKey> loaded = SigningKey::FromPemFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->key_id(), key->key_id());
  std::remove(path.c_str());
  EXPECT_TRUE(IsError(SigningKey::FromPemFile(path).status(), absl::StatusCode::kNotFound, {path}));
}

}  // namespace
}  // namespace drover::trust
