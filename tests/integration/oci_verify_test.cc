// The image verifier (agent-updater/oci/) against a real registry:
// Debian's docker-registry on loopback, images and cosign signatures made
// and pushed by the test (openssl, the registry's upload API), token auth
// through tests/fixtures/oci/token_server.py.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/oci/cosign.h"
#include "agent-updater/oci/digest.h"
#include "agent-updater/oci/image_verifier.h"
#include "agent-updater/oci/registry_client.h"
#include "common/status_testing.h"
#include "tests/support/oci_registry.h"
#include "tests/support/test_env.h"

namespace drover::oci {
namespace {

using ::drover::testing::IsError;
namespace t = ::drover::testing;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

std::string NewTempDir() {
  char tmpl[] = "/tmp/drover-oci-test-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  return dir == nullptr ? std::string() : std::string(dir);
}

// One open registry and two cosign keys for the whole suite; each test uses
// its own repository.
class OciVerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(NewTempDir());
    ASSERT_FALSE(dir_->empty());
    absl::StatusOr<std::unique_ptr<t::RegistryProcess>> r = t::RegistryProcess::Start(*dir_, *dir_ + "/storage");
    ASSERT_TRUE(r.ok()) << r.status();
    registry_ = r->release();
    absl::StatusOr<t::CosignKeyFiles> key = t::MakeCosignKey(*dir_, "cosign");
    ASSERT_TRUE(key.ok()) << key.status();
    absl::StatusOr<t::CosignKeyFiles> other = t::MakeCosignKey(*dir_, "other");
    ASSERT_TRUE(other.ok()) << other.status();
    key_ = new t::CosignKeyFiles(*key);
    other_key_ = new t::CosignKeyFiles(*other);
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
    if (dir_ != nullptr && !dir_->empty()) t::RunCommand({"rm", "-rf", *dir_});
    delete dir_;
    delete key_;
    delete other_key_;
  }

  std::unique_ptr<RegistryClient> Client(RegistryClientOptions options = {}) {
    options.plain_http = true;
    options.timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<RegistryClient>> c = RegistryClient::Create(registry_->address(), options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }
  static CosignVerifier Verifier(const std::string& public_key) {
    absl::StatusOr<CosignVerifier> v = CosignVerifier::FromPemFile(public_key);
    EXPECT_TRUE(v.ok()) << v.status();
    return *std::move(v);
  }
  static ImageReference Ref(const std::string& repo, const std::string& tag) {
    return ImageReference{registry_->address(), repo, tag, ""};
  }
  // Pushes repo:tag with `content`; returns its digest.
  static std::string Push(const std::string& repo, const std::string& tag, const std::string& content) {
    absl::StatusOr<std::string> digest = t::PushImage(registry_->address(), repo, tag, content, *dir_);
    EXPECT_TRUE(digest.ok()) << digest.status();
    return digest.value_or("");
  }
  // Signs `signed_digest` with `private_key` and stores it as the signature of `image_digest`.
  static void Sign(const std::string& repo, const std::string& image_digest, const std::string& signed_digest,
                   const std::string& private_key, bool tamper = false) {
    const std::string payload =
        t::SimpleSigningPayload(absl::StrCat(registry_->address(), "/", repo), signed_digest);
    absl::StatusOr<std::string> sig = t::SignPayload(private_key, payload, *dir_);
    ASSERT_TRUE(sig.ok()) << sig.status();
    std::string signature = *sig;
    if (tamper) {
      std::string der;
      ASSERT_TRUE(absl::Base64Unescape(signature, &der));
      der[der.size() / 2] ^= 0x01;  // inside r or s: still DER, no longer valid
      signature = absl::Base64Escape(der);
    }
    absl::StatusOr<std::string> pushed =
        t::PushCosignSignature(registry_->address(), repo, image_digest, payload, signature);
    ASSERT_TRUE(pushed.ok()) << pushed.status();
  }

  static std::string* dir_;
  static t::RegistryProcess* registry_;
  static t::CosignKeyFiles* key_;
  static t::CosignKeyFiles* other_key_;
};

std::string* OciVerifyTest::dir_ = nullptr;
t::RegistryProcess* OciVerifyTest::registry_ = nullptr;
t::CosignKeyFiles* OciVerifyTest::key_ = nullptr;
t::CosignKeyFiles* OciVerifyTest::other_key_ = nullptr;

TEST_F(OciVerifyTest, GoodSignatureIsAcceptedAndTheImagePinned) {
  const std::string digest = Push("demo/good", "v1", "1.0.0");
  Sign("demo/good", digest, digest, key_->private_key);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::string> resolved = client->ResolveTag("demo/good", "v1");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, digest);
  absl::StatusOr<VerifiedImage> v = VerifyImage(*client, Verifier(key_->public_key), Ref("demo/good", "v1"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->digest, digest);
  EXPECT_EQ(v->pinned_reference, absl::StrCat(registry_->address(), "/demo/good@", digest));
  // The manifest by digest and its layer check out too.
  absl::StatusOr<Manifest> m = client->GetManifest("demo/good", digest);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->media_type, kOciManifest);
  EXPECT_EQ(client->stats().head_fallbacks, 0);
  EXPECT_EQ(client->stats().token_fetches, 0);
}

TEST_F(OciVerifyTest, TamperedSignatureIsRefused) {
  const std::string digest = Push("demo/tampered", "v1", "1.0.0");
  Sign("demo/tampered", digest, digest, key_->private_key, /*tamper=*/true);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(IsError(VerifyImage(*client, Verifier(key_->public_key), Ref("demo/tampered", "v1")).status(),
                      absl::StatusCode::kPermissionDenied,
                      {"cosign signature of", "demo/tampered@" + digest, "refused", "layer 0", "bad signature"}));
}

TEST_F(OciVerifyTest, SignatureMadeForAnotherDigestIsRefused) {
  const std::string digest = Push("demo/other", "v1", "1.0.0");
  const std::string other = Push("demo/other", "v2", "2.0.0");
  // A valid signature of v2, stored as if it were v1's.
  Sign("demo/other", digest, other, key_->private_key);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(IsError(VerifyImage(*client, Verifier(key_->public_key), Ref("demo/other", "v1")).status(),
                      absl::StatusCode::kPermissionDenied, {"signature is for another digest", other, digest}));
}

TEST_F(OciVerifyTest, SignatureByAnotherKeyIsRefused) {
  const std::string digest = Push("demo/wrongkey", "v1", "1.0.0");
  Sign("demo/wrongkey", digest, digest, other_key_->private_key);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(IsError(VerifyImage(*client, Verifier(key_->public_key), Ref("demo/wrongkey", "v1")).status(),
                      absl::StatusCode::kPermissionDenied,
                      {"bad signature", "another key", key_->public_key}));
  // The key that did sign it accepts it.
  EXPECT_TRUE(VerifyImage(*client, Verifier(other_key_->public_key), Ref("demo/wrongkey", "v1")).ok());
}

TEST_F(OciVerifyTest, TagMovedToAnUnsignedImageAfterSigningIsRefused) {
  const std::string signed_digest = Push("demo/moved", "v1", "1.0.0");
  Sign("demo/moved", signed_digest, signed_digest, key_->private_key);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  const CosignVerifier verifier = Verifier(key_->public_key);
  ASSERT_TRUE(VerifyImage(*client, verifier, Ref("demo/moved", "v1")).ok());
  const std::string moved = Push("demo/moved", "v1", "1.0.0 with something else");
  ASSERT_NE(moved, signed_digest);
  EXPECT_TRUE(IsError(VerifyImage(*client, verifier, Ref("demo/moved", "v1")).status(),
                      absl::StatusCode::kPermissionDenied,
                      {"demo/moved@" + moved, "no signature", SignatureTag(moved), "not found"}));
  // The signed image is still verifiable by its digest.
  ImageReference pinned = Ref("demo/moved", "");
  pinned.digest = signed_digest;
  EXPECT_TRUE(VerifyImage(*client, verifier, pinned).ok());
}

TEST_F(OciVerifyTest, UnknownTagAndRepositoryAreNotFound) {
  Push("demo/known", "v1", "1.0.0");
  auto client = Client();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(IsError(VerifyImage(*client, Verifier(key_->public_key), Ref("demo/known", "v9")).status(),
                      absl::StatusCode::kNotFound,
                      {"tag v9 of", registry_->address() + "/demo/known", "not found (HTTP 404)"}));
  // A GET has a body: the registry's own error code is quoted, short.
  EXPECT_TRUE(IsError(client->GetManifest("demo/known", "v9").status(), absl::StatusCode::kNotFound,
                      {"tag v9 of", "registry said MANIFEST_UNKNOWN"}));
  EXPECT_TRUE(IsError(client->ResolveTag("demo/nothing-here", "v1").status(), absl::StatusCode::kNotFound,
                      {"tag v1 of", "/demo/nothing-here", "not found"}));
  EXPECT_TRUE(IsError(client->GetBlob("demo/known", Sha256Digest("no such blob")).status(),
                      absl::StatusCode::kNotFound, {"blob sha256:", "not found"}));
}

TEST_F(OciVerifyTest, RegistryDownIsUnavailable) {
  // A port nobody listens on: the kernel just handed it out and took it back.
  const std::string address = absl::StrCat("127.0.0.1:", t::FreePort());
  RegistryClientOptions options;
  options.plain_http = true;
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(address, options);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(IsError(VerifyImage(**client, Verifier(key_->public_key), ImageReference{address, "demo/app", "v1", ""})
                          .status(),
                      absl::StatusCode::kUnavailable,
                      {"tag v1 of " + address + "/demo/app", "cannot connect", "Connection refused"}));
}

TEST_F(OciVerifyTest, HttpsIsNotDowngradedToPlainHttp) {
  Push("demo/tls", "v1", "1.0.0");
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(registry_->address(), {});
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(IsError((*client)->ResolveTag("demo/tls", "v1").status(), absl::StatusCode::kUnavailable,
                      {"HEAD https://" + registry_->address() + "/v2/demo/tls/manifests/v1"}));
}

TEST_F(OciVerifyTest, CommandLineToolPrintsThePinnedReferenceOrRefuses) {
  const std::string digest = Push("demo/cli", "v1", "1.0.0");
  Sign("demo/cli", digest, digest, key_->private_key);
  const std::string image = absl::StrCat(registry_->address(), "/demo/cli:v1");
  t::CommandResult ok = t::RunCommand(
      {t::BinaryPath("drover-image-verify"), "--image=" + image, "--public_key=" + key_->public_key, "--plain_http"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output, absl::StrCat(registry_->address(), "/demo/cli@", digest, "\n"));
  t::CommandResult refused = t::RunCommand({t::BinaryPath("drover-image-verify"), "--image=" + image,
                                            "--public_key=" + other_key_->public_key, "--plain_http"});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("PERMISSION_DENIED"), std::string::npos) << refused.output;
  t::CommandResult usage = t::RunCommand({t::BinaryPath("drover-image-verify"), "--image=demo/cli:v1",
                                          "--public_key=" + key_->public_key});
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  EXPECT_NE(usage.output.find("no registry host"), std::string::npos) << usage.output;
}

// The same storage served by a registry that wants bearer tokens from the
// test's token server.
TEST_F(OciVerifyTest, TokenAuthGetsACachedTokenAndWrongCredentialsAreRefused) {
  const std::string digest = Push("demo/private", "v1", "1.0.0");
  Sign("demo/private", digest, digest, key_->private_key);
  const std::string cert = *dir_ + "/token.crt";
  const std::string key = *dir_ + "/token.key";
  t::CommandResult made = t::RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                                         "-out", cert, "-days", "1", "-subj", "/CN=drover-test-token-server"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string password = *dir_ + "/password";
  const std::string wrong_password = *dir_ + "/wrong-password";
  ASSERT_EQ(t::RunCommand({"sh", "-c", "echo s3cret > " + password + "; echo guess > " + wrong_password}).exit_code,
            0);
  absl::StatusOr<std::unique_ptr<t::TokenServerProcess>> tokens =
      t::TokenServerProcess::Start(*dir_, cert, key, "alice", password);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<std::unique_ptr<t::RegistryProcess>> private_registry = t::RegistryProcess::Start(
      *dir_, *dir_ + "/storage",
      absl::StrCat("  token:\n    realm: ", (*tokens)->realm(), "\n    service: ", t::TokenServerProcess::kService,
                   "\n    issuer: ", t::TokenServerProcess::kIssuer, "\n    rootcertbundle: ", cert, "\n"));
  ASSERT_TRUE(private_registry.ok()) << private_registry.status();
  const std::string address = (*private_registry)->address();
  const ImageReference ref{address, "demo/private", "v1", ""};
  const CosignVerifier verifier = Verifier(key_->public_key);

  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  RegistryClientOptions options;
  options.plain_http = true;
  options.username = "alice";
  options.password_file = password;
  options.clock = &clock;
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(address, options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<VerifiedImage> v = VerifyImage(**client, verifier, ref);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->digest, digest);
  EXPECT_EQ((*client)->stats().token_fetches, 1);
  // Cached: a second pass (HEAD, .sig manifest, payload blob) asks for none.
  ASSERT_TRUE(VerifyImage(**client, verifier, ref).ok());
  EXPECT_EQ((*client)->stats().token_fetches, 1);
  // The server grants 300 s; renewed 10 s before they end.
  clock.Advance(absl::Seconds(291));
  ASSERT_TRUE(VerifyImage(**client, verifier, ref).ok());
  EXPECT_EQ((*client)->stats().token_fetches, 2);

  options.password_file = wrong_password;
  absl::StatusOr<std::unique_ptr<RegistryClient>> wrong = RegistryClient::Create(address, options);
  ASSERT_TRUE(wrong.ok());
  EXPECT_TRUE(IsError(VerifyImage(**wrong, verifier, ref).status(), absl::StatusCode::kPermissionDenied,
                      {"tag v1 of " + address + "/demo/private", "token server", "refused user alice", "HTTP 401"}));

  RegistryClientOptions anonymous;
  anonymous.plain_http = true;
  absl::StatusOr<std::unique_ptr<RegistryClient>> nobody = RegistryClient::Create(address, anonymous);
  ASSERT_TRUE(nobody.ok());
  EXPECT_TRUE(IsError(VerifyImage(**nobody, verifier, ref).status(), absl::StatusCode::kPermissionDenied,
                      {"refused anonymous"}));
}

// The same storage behind htpasswd: basic credentials after the challenge.
TEST_F(OciVerifyTest, BasicAuthSendsCredentialsAfterTheChallenge) {
  const std::string digest = Push("demo/basic", "v1", "1.0.0");
  Sign("demo/basic", digest, digest, key_->private_key);
  const std::string htpasswd = *dir_ + "/htpasswd";
  const std::string password = *dir_ + "/basic-password";
  const std::string wrong_password = *dir_ + "/basic-wrong-password";
  // bcrypt (cost 4) from libcrypt through python: no htpasswd tool needed.
  t::CommandResult hash = t::RunCommand(
      {"python3", "-W", "ignore", "-c",
       "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))",
       "hunter2"});
  ASSERT_EQ(hash.exit_code, 0) << hash.output;
  ASSERT_TRUE(absl::StartsWith(hash.output, "$2")) << hash.output;
  WriteFile(htpasswd, "bob:" + hash.output);
  WriteFile(password, "hunter2\n");
  WriteFile(wrong_password, "guess\n");
  absl::StatusOr<std::unique_ptr<t::RegistryProcess>> basic_registry = t::RegistryProcess::Start(
      *dir_, *dir_ + "/storage", absl::StrCat("  htpasswd:\n    realm: drover-test\n    path: ", htpasswd, "\n"));
  ASSERT_TRUE(basic_registry.ok()) << basic_registry.status();
  const std::string address = (*basic_registry)->address();
  const ImageReference ref{address, "demo/basic", "v1", ""};
  const CosignVerifier verifier = Verifier(key_->public_key);

  RegistryClientOptions options;
  options.plain_http = true;
  options.username = "bob";
  options.password_file = password;
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(address, options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<VerifiedImage> v = VerifyImage(**client, verifier, ref);
  ASSERT_TRUE(v.ok()) << v.status() << (*basic_registry)->Log();
  EXPECT_EQ(v->digest, digest);
  EXPECT_EQ((*client)->stats().auth_retries, 1);  // only the first request was challenged
  EXPECT_EQ((*client)->stats().token_fetches, 0);

  options.password_file = wrong_password;
  absl::StatusOr<std::unique_ptr<RegistryClient>> wrong = RegistryClient::Create(address, options);
  ASSERT_TRUE(wrong.ok());
  EXPECT_TRUE(IsError(VerifyImage(**wrong, verifier, ref).status(), absl::StatusCode::kPermissionDenied,
                      {"tag v1 of " + address + "/demo/basic", "access refused (HTTP 401) after authenticating",
                       "as user bob"}));
  RegistryClientOptions anonymous;
  anonymous.plain_http = true;
  absl::StatusOr<std::unique_ptr<RegistryClient>> nobody = RegistryClient::Create(address, anonymous);
  ASSERT_TRUE(nobody.ok());
  EXPECT_TRUE(IsError(VerifyImage(**nobody, verifier, ref).status(), absl::StatusCode::kPermissionDenied,
                      {"wants basic credentials"}));
}

}  // namespace
}  // namespace drover::oci
