#include "common/trust/keys.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/atomic_file.h"
#include "common/pki/openssl_error.h"

namespace drover::trust {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

absl::StatusOr<std::string> RawPublic(EVP_PKEY* key) {
  size_t len = kEd25519PublicKeySize;
  std::string raw(len, '\0');
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != kEd25519PublicKeySize) {
    return absl::InternalError(absl::StrCat("EVP_PKEY_get_raw_public_key: ", OpenSslError()));
  }
  return raw;
}

}  // namespace

std::string KeyId(absl::string_view raw_public_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(raw_public_key.data(), raw_public_key.size(), digest, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 16));
}

absl::StatusOr<std::string> RawPublicKeyFromPem(absl::string_view pem, absl::string_view origin) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) {
    ERR_clear_error();
    BioPtr again(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    raw = PEM_read_bio_PrivateKey(again.get(), nullptr, nullptr, nullptr);
  }
  if (raw == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " is not a PEM Ed25519 key (", OpenSslError(), "); expected `droverctl keys` output"));
  }
  PkeyPtr key(raw, &EVP_PKEY_free);
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " holds a ", OBJ_nid2sn(EVP_PKEY_id(key.get())), " key; an Ed25519 key is required"));
  }
  return RawPublic(key.get());
}

std::string PublicKeyPem(absl::string_view raw_public_key) {
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(raw_public_key.data()),
                                          raw_public_key.size()),
              &EVP_PKEY_free);
  if (key == nullptr) return "";
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) return "";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

absl::Status VerifyEd25519(absl::string_view raw_public_key, absl::string_view data, absl::string_view signature) {
  if (raw_public_key.size() != kEd25519PublicKeySize) {
    return absl::PermissionDeniedError(
        absl::StrCat("public key is ", raw_public_key.size(), " bytes; Ed25519 keys are ", kEd25519PublicKeySize));
  }
  if (signature.size() != kEd25519SignatureSize) {
    return absl::PermissionDeniedError(
        absl::StrCat("signature is ", signature.size(), " bytes; Ed25519 signatures are ", kEd25519SignatureSize));
  }
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(raw_public_key.data()),
                                          raw_public_key.size()),
              &EVP_PKEY_free);
  if (key == nullptr) return absl::PermissionDeniedError(absl::StrCat("bad public key: ", OpenSslError()));
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (ctx == nullptr) return absl::InternalError("EVP_MD_CTX_new failed");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestVerifyInit: ", OpenSslError()));
  }
  const int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                  reinterpret_cast<const unsigned char*>(data.data()), data.size());
  ERR_clear_error();
  if (rc != 1) return absl::PermissionDeniedError("signature does not verify");
  return absl::OkStatus();
}

SigningKey::SigningKey(std::shared_ptr<void> key, std::string public_key)
    : key_(std::move(key)), public_key_(std::move(public_key)), key_id_(KeyId(public_key_)) {}

absl::StatusOr<SigningKey> SigningKey::Generate() {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (raw == nullptr) return absl::InternalError(absl::StrCat("Ed25519 key generation: ", OpenSslError()));
  std::shared_ptr<void> key(raw, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
  absl::StatusOr<std::string> pub = RawPublic(raw);
  if (!pub.ok()) return pub.status();
  return SigningKey(std::move(key), *std::move(pub));
}

absl::StatusOr<SigningKey> SigningKey::FromPem(absl::string_view pem, absl::string_view origin) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(origin, " is not a PEM private key (", OpenSslError(),
                                                   "); make one with `droverctl keys create-root` or "
                                                   "`create-targets`"));
  }
  std::shared_ptr<void> key(raw, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
  if (EVP_PKEY_id(raw) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " holds a ", OBJ_nid2sn(EVP_PKEY_id(raw)), " key; an Ed25519 key is required"));
  }
  absl::StatusOr<std::string> pub = RawPublic(raw);
  if (!pub.ok()) return pub.status();
  return SigningKey(std::move(key), *std::move(pub));
}

absl::StatusOr<SigningKey> SigningKey::FromPemFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read private key file ", path, ": ", std::strerror(errno)));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "private key file %s has mode %04o: group and others must have no access (chmod 600 %s)", path,
        st.st_mode & 07777, path));
  }
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) return pem.status();
  return FromPem(*pem, absl::StrCat("private key file ", path));
}

absl::StatusOr<std::string> SigningKey::Sign(absl::string_view data) const {
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (ctx == nullptr) return absl::InternalError("EVP_MD_CTX_new failed");
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_.get())) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestSignInit: ", OpenSslError()));
  }
  size_t len = kEd25519SignatureSize;
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestSign: ", OpenSslError()));
  }
  sig.resize(len);
  return sig;
}

absl::StatusOr<std::string> SigningKey::PrivatePem() const {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), static_cast<EVP_PKEY*>(key_.get()), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return absl::InternalError(absl::StrCat("PEM_write_bio_PrivateKey: ", OpenSslError()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace drover::trust
