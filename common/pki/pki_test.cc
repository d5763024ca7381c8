#include "common/pki/pki.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace drover::pki {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

std::string TempDir() {
  char tmpl[] = "/tmp/drover-pki-XXXXXX";
  return mkdtemp(tmpl);
}

TEST(PkiTest, HostCertificateNamesHostFleetAndChannel) {
  absl::StatusOr<KeyAndCertificate> ca_files = CertificateAuthority::Create("prod.example", absl::Hours(24), kNow);
  ASSERT_TRUE(ca_files.ok()) << ca_files.status();
  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Load(ca_files->cert_pem, ca_files->key_pem);
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<std::string> key = GenerateKeyPem();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> csr = MakeCsrPem(*key, "ignored-by-the-ca");
  ASSERT_TRUE(csr.ok()) << csr.status();
  // 128-character host ids and 100-character channels exceed X.509's
  // suggested name bounds; they must still fit.
  const std::string host(128, 'h');
  const std::string channel = std::string(90, 'c') + "/stable/x";
  absl::StatusOr<IssuedCertificate> issued =
      ca->IssueHostCertificate(*csr, "prod.example", host, channel, absl::Hours(1), kNow);
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<CertificateInfo> info = ParseCertificatePem(issued->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->serial_hex, issued->serial_hex);
  EXPECT_EQ(info->serial_hex.size(), 32u);
  EXPECT_EQ(info->subject_cn, host);
  EXPECT_EQ(info->subject_ou, channel);
  ASSERT_EQ(info->uri_sans.size(), 1u);
  EXPECT_EQ(info->uri_sans[0], "spiffe://prod.example/host/" + host);
  EXPECT_EQ(*HostIdFromSpiffeId(info->uri_sans[0], "prod.example"), host);
  EXPECT_EQ(info->not_after, kNow + absl::Hours(1));
  EXPECT_EQ(issued->not_after, kNow + absl::Hours(1));

  EXPECT_TRUE(VerifyCertificate(issued->cert_pem, ca_files->cert_pem, kNow).ok());
  absl::Status expired = VerifyCertificate(issued->cert_pem, ca_files->cert_pem, kNow + absl::Hours(2));
  EXPECT_EQ(expired.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(expired.message(), "expired")) << expired;
  absl::StatusOr<KeyAndCertificate> other = CertificateAuthority::Create("prod.example", absl::Hours(24), kNow);
  EXPECT_EQ(VerifyCertificate(issued->cert_pem, other->cert_pem, kNow).code(), absl::StatusCode::kPermissionDenied);

  // Two certificates never share a serial.
  absl::StatusOr<IssuedCertificate> again = ca->IssueHostCertificate(*csr, "prod.example", host, channel,
                                                                     absl::Hours(1), kNow);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->serial_hex, issued->serial_hex);
}

TEST(PkiTest, SpiffeIdOfAnotherFleetOrKindNamesNoHost) {
  EXPECT_EQ(HostIdFromSpiffeId("spiffe://a/host/x", "b").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(HostIdFromSpiffeId("spiffe://a/operator/x", "a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(HostIdFromSpiffeId("spiffe://a/host/", "a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(HostIdFromSpiffeId("spiffe://a/host/x/y", "a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*HostIdFromSpiffeId("spiffe://a/host/web-1.example:2", "a"), "web-1.example:2");
  EXPECT_FALSE(ValidateFleetName("Prod").ok());
  EXPECT_FALSE(ValidateFleetName("").ok());
  EXPECT_TRUE(ValidateFleetName("prod-1.example").ok());
}

TEST(PkiTest, BadCsrsAreRefused) {
  absl::StatusOr<KeyAndCertificate> files = CertificateAuthority::Create("f", absl::Hours(24), kNow);
  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Load(files->cert_pem, files->key_pem);
  ASSERT_TRUE(ca.ok());
  absl::Status s = ca->IssueHostCertificate("garbage", "f", "h", "c", absl::Hours(1), kNow).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "csr_pem")) << s;
  // A CSR whose signature does not match its key: one byte of the signature flipped.
  std::string csr = *MakeCsrPem(*GenerateKeyPem(), "h");
  const size_t end = csr.find("-----END");
  csr[end - 6] = csr[end - 6] == 'A' ? 'B' : 'A';
  EXPECT_EQ(ca->IssueHostCertificate(csr, "f", "h", "c", absl::Hours(1), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PkiTest, CaKeyMustMatchItsCertificate) {
  absl::StatusOr<KeyAndCertificate> a = CertificateAuthority::Create("f", absl::Hours(24), kNow);
  absl::StatusOr<KeyAndCertificate> b = CertificateAuthority::Create("f", absl::Hours(24), kNow);
  absl::Status s = CertificateAuthority::Load(a->cert_pem, b->key_pem).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "does not belong")) << s;
  // A server certificate is no CA.
  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Load(a->cert_pem, a->key_pem);
  absl::StatusOr<KeyAndCertificate> server = ca->IssueServerCertificate({"localhost", "127.0.0.1"}, absl::Hours(1), kNow);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(absl::StrContains(CertificateAuthority::Load(server->cert_pem, server->key_pem).status().message(),
                                "not a CA"));
  EXPECT_EQ(ca->IssueServerCertificate({"a b"}, absl::Hours(1), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PkiTest, WorldReadableKeyFilesAreRefusedNamingTheFix) {
  const std::string dir = TempDir();
  const std::string path = dir + "/k.pem";
  ASSERT_TRUE(WriteFileAtomically(path, "secret", 0644).ok());
  absl::Status s = ReadPrivateKeyFile(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "0644")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "chmod 600 " + path)) << s;
  ASSERT_TRUE(WriteFileAtomically(path, "secret", 0600).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(*ReadPrivateKeyFile(path), "secret");
  EXPECT_EQ(ReadPrivateKeyFile(dir + "/none").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace drover::pki
