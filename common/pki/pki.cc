#include "common/pki/pki.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/pki/openssl_error.h"

namespace drover::pki {
namespace {

template <auto fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    fn(p);
  }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Ext = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using GeneralNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;

absl::Status SslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", OpenSslError()));
}

Bio MemBio(absl::string_view data) { return Bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size()))); }

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<Key> ParseKey(absl::string_view pem) {
  Bio bio = MemBio(pem);
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not a PEM private key");
  }
  return key;
}

absl::StatusOr<Cert> ParseCert(absl::string_view pem) {
  Bio bio = MemBio(pem);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not a PEM certificate");
  }
  return cert;
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return SslError("writing a private key");
  }
  return BioText(bio.get());
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return SslError("writing a certificate");
  return BioText(bio.get());
}

absl::StatusOr<Key> NewKey() {
  Key key(EVP_EC_gen("P-256"));
  if (key == nullptr) return SslError("generating an ECDSA P-256 key");
  return key;
}

absl::Time AsnTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTM(tm, absl::UTCTimeZone());
}

// Adds a name entry as a UTF8String. Given a type rather than MBSTRING_UTF8,
// OpenSSL applies no RFC 5280 upper bound: host ids reach 128 characters and
// channel ids 100, above the bound of 64 for CN and OU.
bool AddNameEntry(X509_NAME* name, int nid, absl::string_view value) {
  return X509_NAME_add_entry_by_NID(name, nid, V_ASN1_UTF8STRING,
                                    reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0) == 1;
}

std::string NameEntry(X509_NAME* name, int nid) {
  const int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return SslError(absl::StrCat("adding extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

// A random positive serial of 127 bits (RFC 5280: at most 20 octets, and
// unpredictable, as CA/B asks).
absl::StatusOr<Bn> RandomSerial() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return SslError("drawing a serial number");
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01 << 6;  // never a short serial
  Bn bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (bn == nullptr) return SslError("drawing a serial number");
  return bn;
}

std::string SerialHex(const BIGNUM* bn) {
  char* hex = BN_bn2hex(bn);
  std::string out = hex == nullptr ? "" : hex;
  OPENSSL_free(hex);
  return out;
}

struct NewCert {
  Cert cert;
  std::string serial_hex;
};

// A certificate skeleton: version 3, random serial, validity from one
// minute before `now` (clocks differ a little), subject, issuer.
absl::StatusOr<NewCert> StartCertificate(X509_NAME* subject, X509* issuer, EVP_PKEY* public_key, absl::Time now,
                                         absl::Duration validity) {
  Cert cert(X509_new());
  absl::StatusOr<Bn> serial = RandomSerial();
  if (!serial.ok()) return serial.status();
  time_t start = absl::ToTimeT(now - absl::Minutes(1));
  time_t end = absl::ToTimeT(now + validity);
  if (!X509_set_version(cert.get(), X509_VERSION_3) ||
      BN_to_ASN1_INTEGER(serial->get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, 0, &start) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0, 0, &end) == nullptr ||
      !X509_set_subject_name(cert.get(), subject) ||
      !X509_set_issuer_name(cert.get(), issuer == nullptr ? subject : X509_get_subject_name(issuer)) ||
      !X509_set_pubkey(cert.get(), public_key)) {
    return SslError("building a certificate");
  }
  return NewCert{std::move(cert), SerialHex(serial->get())};
}

bool IsIpLiteral(absl::string_view s) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(std::string(s).c_str());
  if (ip == nullptr) {
    ERR_clear_error();
    return false;
  }
  ASN1_OCTET_STRING_free(ip);
  return true;
}

bool IsHostIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == ':' ||
         c == '@';
}

}  // namespace

std::string HostSpiffeId(absl::string_view fleet, absl::string_view host_id) {
  return absl::StrCat("spiffe://", fleet, "/host/", host_id);
}

absl::StatusOr<std::string> HostIdFromSpiffeId(absl::string_view uri, absl::string_view fleet) {
  const std::string prefix = absl::StrCat("spiffe://", fleet, "/host/");
  if (!absl::StartsWith(uri, prefix)) {
    return absl::NotFoundError(absl::StrCat("\"", uri, "\" is not a host identity of fleet \"", fleet, "\""));
  }
  absl::string_view id = uri.substr(prefix.size());
  if (id.empty()) return absl::NotFoundError(absl::StrCat("\"", uri, "\" names no host"));
  for (char c : id) {
    if (!IsHostIdChar(c)) return absl::NotFoundError(absl::StrCat("\"", uri, "\" names no valid host id"));
  }
  return std::string(id);
}

absl::Status ValidateFleetName(absl::string_view fleet) {
  if (fleet.empty() || fleet.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat("fleet name \"", fleet, "\" must have 1 to 255 characters"));
  }
  for (char c : fleet) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) || absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
          c == '.' || c == '-' || c == '_')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fleet name \"", fleet, "\" is no SPIFFE trust domain: use lowercase letters, digits and \".-_\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return errno == ENOENT ? absl::NotFoundError(absl::StrCat("\"", path, "\" does not exist"))
                           : absl::PermissionDeniedError(absl::StrCat("cannot read \"", path, "\""));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::string> ReadPrivateKeyFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("key file \"", path, "\" does not exist"));
  }
  if ((st.st_mode & 0007) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "key file \"%s\" has mode %04o, so any user may read it: run `chmod 600 %s` (and consider the key "
        "exposed)",
        path, st.st_mode & 07777, path));
  }
  return ReadFile(path);
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, int mode) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot write \"", tmp, "\""));
  // open() applies the umask; the mode asked for is what the file gets.
  bool ok = fchmod(fd, static_cast<mode_t>(mode)) == 0;
  size_t done = 0;
  while (ok && done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n <= 0) ok = false;
    else done += static_cast<size_t>(n);
  }
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write \"", path, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NewJoinToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return SslError("drawing a join token");
  std::string out = "drover-join-";
  for (unsigned char b : bytes) absl::StrAppendFormat(&out, "%02x", b);
  return out;
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < n; ++i) absl::StrAppendFormat(&out, "%02x", md[i]);
  return out;
}

absl::StatusOr<std::string> GenerateKeyPem() {
  absl::StatusOr<Key> key = NewKey();
  if (!key.ok()) return key.status();
  return KeyPem(key->get());
}

absl::StatusOr<std::string> MakeCsrPem(absl::string_view key_pem, absl::string_view common_name) {
  absl::StatusOr<Key> key = ParseKey(key_pem);
  if (!key.ok()) return key.status();
  Req req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (!AddNameEntry(name, NID_commonName, common_name) || !X509_REQ_set_pubkey(req.get(), key->get()) ||
      X509_REQ_sign(req.get(), key->get(), EVP_sha256()) <= 0) {
    return SslError("making a certificate request");
  }
  Bio bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509_REQ(bio.get(), req.get())) return SslError("writing a certificate request");
  return BioText(bio.get());
}

absl::StatusOr<CertificateInfo> ParseCertificatePem(absl::string_view pem) {
  absl::StatusOr<Cert> cert = ParseCert(pem);
  if (!cert.ok()) return cert.status();
  CertificateInfo info;
  Bn serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert->get()), nullptr));
  info.serial_hex = SerialHex(serial.get());
  info.subject_cn = NameEntry(X509_get_subject_name(cert->get()), NID_commonName);
  info.subject_ou = NameEntry(X509_get_subject_name(cert->get()), NID_organizationalUnitName);
  info.not_before = AsnTime(X509_get0_notBefore(cert->get()));
  info.not_after = AsnTime(X509_get0_notAfter(cert->get()));
  GeneralNames sans(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr)));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
      if (gn->type != GEN_URI) continue;
      const ASN1_STRING* s = gn->d.uniformResourceIdentifier;
      info.uri_sans.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    }
  }
  return info;
}

absl::Status VerifyCertificate(absl::string_view cert_pem, absl::string_view ca_pem, absl::Time now) {
  absl::StatusOr<Cert> cert = ParseCert(cert_pem);
  if (!cert.ok()) return absl::PermissionDeniedError("the client certificate is no PEM certificate");
  absl::StatusOr<Cert> ca = ParseCert(ca_pem);
  if (!ca.ok()) return absl::InternalError("the CA certificate is no PEM certificate");
  Store store(X509_STORE_new());
  StoreCtx ctx(X509_STORE_CTX_new());
  if (!X509_STORE_add_cert(store.get(), ca->get()) ||
      !X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr)) {
    return SslError("setting up certificate verification");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::PermissionDeniedError(
        absl::StrCat("certificate refused: ", X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyAndCertificate> CertificateAuthority::Create(absl::string_view fleet, absl::Duration validity,
                                                               absl::Time now) {
  if (absl::Status s = ValidateFleetName(fleet); !s.ok()) return s;
  absl::StatusOr<Key> key = NewKey();
  if (!key.ok()) return key.status();
  std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>> name(X509_NAME_new());
  if (!AddNameEntry(name.get(), NID_organizationName, fleet) ||
      !AddNameEntry(name.get(), NID_commonName, absl::StrCat("Drover CA ", fleet))) {
    return SslError("naming the CA");
  }
  absl::StatusOr<NewCert> c = StartCertificate(name.get(), nullptr, key->get(), now, validity);
  if (!c.ok()) return c.status();
  X509* cert = c->cert.get();
  for (const auto& [nid, value] : std::vector<std::pair<int, std::string>>{
           {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
           {NID_key_usage, "critical,keyCertSign,cRLSign"},
           {NID_subject_key_identifier, "hash"}}) {
    if (absl::Status s = AddExtension(cert, cert, nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert, key->get(), EVP_sha256()) <= 0) return SslError("signing the CA certificate");
  absl::StatusOr<std::string> key_pem = KeyPem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::string> cert_pem = CertPem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  return KeyAndCertificate{*std::move(key_pem), *std::move(cert_pem)};
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::Load(absl::string_view cert_pem,
                                                                absl::string_view key_pem) {
  absl::StatusOr<Cert> cert = ParseCert(cert_pem);
  if (!cert.ok()) return absl::InvalidArgumentError("the CA certificate file holds no PEM certificate");
  absl::StatusOr<Key> key = ParseKey(key_pem);
  if (!key.ok()) return absl::InvalidArgumentError("the CA key file holds no PEM private key");
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the CA key does not belong to the CA certificate");
  }
  if (X509_check_ca(cert->get()) == 0) {
    return absl::InvalidArgumentError("the CA certificate is not a CA (basicConstraints CA:TRUE missing)");
  }
  CertificateAuthority ca;
  ca.cert_ = cert->release();
  ca.key_ = key->release();
  ca.cert_pem_ = std::string(cert_pem);
  return ca;
}

CertificateAuthority::CertificateAuthority(CertificateAuthority&& o) noexcept
    : cert_(o.cert_), key_(o.key_), cert_pem_(std::move(o.cert_pem_)) {
  o.cert_ = nullptr;
  o.key_ = nullptr;
}

CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&& o) noexcept {
  if (this != &o) {
    X509_free(static_cast<X509*>(cert_));
    EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
    cert_ = o.cert_;
    key_ = o.key_;
    cert_pem_ = std::move(o.cert_pem_);
    o.cert_ = nullptr;
    o.key_ = nullptr;
  }
  return *this;
}

CertificateAuthority::~CertificateAuthority() {
  X509_free(static_cast<X509*>(cert_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
}

absl::StatusOr<KeyAndCertificate> CertificateAuthority::IssueServerCertificate(const std::vector<std::string>& names,
                                                                               absl::Duration validity,
                                                                               absl::Time now) const {
  if (names.empty()) return absl::InvalidArgumentError("a server certificate needs at least one name");
  X509* issuer = static_cast<X509*>(cert_);
  absl::StatusOr<Key> key = NewKey();
  if (!key.ok()) return key.status();
  std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>> name(X509_NAME_new());
  if (!AddNameEntry(name.get(), NID_commonName, names[0])) return SslError("naming the server");
  absl::StatusOr<NewCert> c = StartCertificate(name.get(), issuer, key->get(), now, validity);
  if (!c.ok()) return c.status();
  std::vector<std::string> sans;
  for (const std::string& n : names) {
    for (char ch : n) {
      if (ch == ',' || (ch == ':' && !IsIpLiteral(n)) || absl::ascii_isspace(static_cast<unsigned char>(ch))) {
        return absl::InvalidArgumentError(absl::StrCat("\"", n, "\" is neither a DNS name nor an IP address"));
      }
    }
    sans.push_back(absl::StrCat(IsIpLiteral(n) ? "IP:" : "DNS:", n));
  }
  X509* cert = c->cert.get();
  for (const auto& [nid, value] : std::vector<std::pair<int, std::string>>{
           {NID_basic_constraints, "critical,CA:FALSE"},
           {NID_key_usage, "critical,digitalSignature"},
           {NID_ext_key_usage, "serverAuth"},
           {NID_authority_key_identifier, "keyid"},
           {NID_subject_alt_name, absl::StrJoin(sans, ",")}}) {
    if (absl::Status s = AddExtension(cert, issuer, nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert, static_cast<EVP_PKEY*>(key_), EVP_sha256()) <= 0) return SslError("signing");
  absl::StatusOr<std::string> key_pem = KeyPem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::string> cert_pem = CertPem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  return KeyAndCertificate{*std::move(key_pem), *std::move(cert_pem)};
}

absl::StatusOr<IssuedCertificate> CertificateAuthority::IssueHostCertificate(
    absl::string_view csr_pem, absl::string_view fleet, absl::string_view host_id, absl::string_view channel,
    absl::Duration validity, absl::Time now) const {
  X509* issuer = static_cast<X509*>(cert_);
  Bio bio = MemBio(csr_pem);
  Req req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (req == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("csr_pem holds no PEM certificate request");
  }
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (pub == nullptr || X509_REQ_verify(req.get(), pub) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("csr_pem is not signed by its own key");
  }
  // The key types TLS peers all accept; no RSA below 2048 bits.
  const bool ec = EVP_PKEY_is_a(pub, "EC") == 1;
  const bool ed = EVP_PKEY_is_a(pub, "ED25519") == 1;
  const bool rsa = EVP_PKEY_is_a(pub, "RSA") == 1 && EVP_PKEY_get_bits(pub) >= 2048;
  if (!ec && !ed && !rsa) {
    return absl::InvalidArgumentError("csr_pem: the key must be ECDSA, Ed25519 or RSA of 2048 bits or more");
  }
  std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>> name(X509_NAME_new());
  if (!AddNameEntry(name.get(), NID_organizationName, fleet) ||
      !AddNameEntry(name.get(), NID_organizationalUnitName, channel) ||
      !AddNameEntry(name.get(), NID_commonName, host_id)) {
    return SslError("naming the host");
  }
  absl::StatusOr<NewCert> c = StartCertificate(name.get(), issuer, pub, now, validity);
  if (!c.ok()) return c.status();
  X509* cert = c->cert.get();
  for (const auto& [nid, value] : std::vector<std::pair<int, std::string>>{
           {NID_basic_constraints, "critical,CA:FALSE"},
           {NID_key_usage, "critical,digitalSignature"},
           {NID_ext_key_usage, "clientAuth"},
           {NID_authority_key_identifier, "keyid"},
           {NID_subject_alt_name, absl::StrCat("URI:", HostSpiffeId(fleet, host_id))}}) {
    if (absl::Status s = AddExtension(cert, issuer, nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert, static_cast<EVP_PKEY*>(key_), EVP_sha256()) <= 0) return SslError("signing");
  absl::StatusOr<std::string> pem = CertPem(cert);
  if (!pem.ok()) return pem.status();
  return IssuedCertificate{*std::move(pem), c->serial_hex, AsnTime(X509_get0_notAfter(cert))};
}

}  // namespace drover::pki
