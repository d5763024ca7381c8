// Ed25519 detached signatures (OpenSSL): how the tarball installer knows a
// tarball comes from whoever holds the pinned key.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::updater {

class Ed25519Verifier {
 public:
  static constexpr size_t kSignatureSize = 64;

  // InvalidArgument when `pem` is not a PEM Ed25519 public key; `origin`
  // (e.g. the file name) is quoted in the message.
  static absl::StatusOr<Ed25519Verifier> FromPem(absl::string_view pem, absl::string_view origin = "public key");
  // The same, read from a file (NotFound when it is missing).
  static absl::StatusOr<Ed25519Verifier> FromPemFile(const std::string& path);

  // OK when `signature` (raw 64 bytes) signs `data` with the pinned key.
  // PermissionDenied naming `what` when it does not verify; InvalidArgument
  // for a signature that is not 64 bytes.
  absl::Status Verify(absl::string_view data, absl::string_view signature, absl::string_view what) const;

  // Verify() on the content of `file` and the signature in `signature_file`.
  absl::Status VerifyFile(const std::string& file, const std::string& signature_file) const;

  // Where the key came from, for messages.
  const std::string& origin() const { return origin_; }

 private:
  struct KeyDeleter {
    void operator()(void* key) const;
  };
  Ed25519Verifier(std::shared_ptr<void> key, std::string origin) : key_(std::move(key)), origin_(std::move(origin)) {}

  std::shared_ptr<void> key_;  // EVP_PKEY, immutable once loaded, so copies share it
  std::string origin_;
};

// The release side: signs with an Ed25519 private key read from a PEM file
// (never from a command line). Used by `drover-artifact sign` and tests.
class Ed25519Signer {
 public:
  // InvalidArgument when `pem` is not a PEM Ed25519 private key.
  static absl::StatusOr<Ed25519Signer> FromPem(absl::string_view pem, absl::string_view origin = "private key");
  static absl::StatusOr<Ed25519Signer> FromPemFile(const std::string& path);

  // The raw 64-byte signature of `data`.
  absl::StatusOr<std::string> Sign(absl::string_view data) const;
  // The matching public key, PEM (as `openssl pkey -pubout` writes it).
  absl::StatusOr<std::string> PublicKeyPem() const;

 private:
  Ed25519Signer(std::shared_ptr<void> key, std::string origin) : key_(std::move(key)), origin_(std::move(origin)) {}

  std::shared_ptr<void> key_;  // EVP_PKEY
  std::string origin_;
};

}  // namespace drover::updater
