#include "agent-updater/install/signature.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/pki/openssl_error.h"

namespace drover::updater {

void Ed25519Verifier::KeyDeleter::operator()(void* key) const { EVP_PKEY_free(static_cast<EVP_PKEY*>(key)); }

absl::StatusOr<Ed25519Verifier> Ed25519Verifier::FromPem(absl::string_view pem, absl::string_view origin) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(origin, " is not a PEM public key (", OpenSslError(),
                                                   "); expected the output of `openssl pkey -pubout`"));
  }
  std::shared_ptr<void> owned(key, KeyDeleter());
  if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " holds a ", OBJ_nid2sn(EVP_PKEY_id(key)), " key; an Ed25519 public key is required"));
  }
  return Ed25519Verifier(std::move(owned), std::string(origin));
}

absl::StatusOr<Ed25519Verifier> Ed25519Verifier::FromPemFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) {
    return absl::Status(pem.status().code(), absl::StrCat("cannot read public key file: ", pem.status().message()));
  }
  return FromPem(*pem, absl::StrCat("public key file ", path));
}

absl::Status Ed25519Verifier::Verify(absl::string_view data, absl::string_view signature,
                                     absl::string_view what) const {
  if (signature.size() != kSignatureSize) {
    return absl::InvalidArgumentError(absl::StrCat("signature of ", what, " is ", signature.size(),
                                                   " bytes; an Ed25519 signature is ", kSignatureSize,
                                                   " raw bytes (openssl pkeyutl -sign -rawin)"));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (ctx == nullptr) return absl::InternalError("EVP_MD_CTX_new failed");
  // Ed25519 hashes internally: no digest, one-shot verify.
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_.get())) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestVerifyInit: ", OpenSslError()));
  }
  const int r = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  ERR_clear_error();
  if (r != 1) {
    return absl::PermissionDeniedError(absl::StrCat("signature of ", what, " does not verify with the pinned key (",
                                                    origin_, "): refusing it; the file was altered or signed "
                                                    "with another key"));
  }
  return absl::OkStatus();
}

absl::Status Ed25519Verifier::VerifyFile(const std::string& file, const std::string& signature_file) const {
  absl::StatusOr<std::string> data = ReadFile(file);
  if (!data.ok()) return data.status();
  absl::StatusOr<std::string> signature = ReadFile(signature_file);
  if (!signature.ok()) {
    if (absl::IsNotFound(signature.status())) {
      return absl::PermissionDeniedError(
          absl::StrCat("no signature ", signature_file, " for ", file, ": refusing an unsigned file"));
    }
    return signature.status();
  }
  return Verify(*data, *signature, file);
}

absl::StatusOr<Ed25519Signer> Ed25519Signer::FromPem(absl::string_view pem, absl::string_view origin) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(origin, " is not a PEM private key (", OpenSslError(),
                                                   "); expected the output of `openssl genpkey -algorithm ed25519`"));
  }
  std::shared_ptr<void> owned(key, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
  if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " holds a ", OBJ_nid2sn(EVP_PKEY_id(key)), " key; an Ed25519 private key is required"));
  }
  return Ed25519Signer(std::move(owned), std::string(origin));
}

absl::StatusOr<Ed25519Signer> Ed25519Signer::FromPemFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) {
    return absl::Status(pem.status().code(), absl::StrCat("cannot read private key file: ", pem.status().message()));
  }
  return FromPem(*pem, absl::StrCat("private key file ", path));
}

absl::StatusOr<std::string> Ed25519Signer::Sign(absl::string_view data) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (ctx == nullptr) return absl::InternalError("EVP_MD_CTX_new failed");
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_.get())) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestSignInit: ", OpenSslError()));
  }
  std::string signature(Ed25519Verifier::kSignatureSize, '\0');
  size_t len = signature.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError(absl::StrCat("signing with ", origin_, ": ", OpenSslError()));
  }
  signature.resize(len);
  return signature;
}

absl::StatusOr<std::string> Ed25519Signer::PublicKeyPem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), static_cast<EVP_PKEY*>(key_.get())) != 1) {
    return absl::InternalError(absl::StrCat("PEM_write_bio_PUBKEY: ", OpenSslError()));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace drover::updater
