// Ed25519 keys for signed metadata (OpenSSL 3 EVP): loading, generating,
// signing, verifying, key ids. Public keys travel as raw 32 bytes.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::trust {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

// Lower-case hex of the first 16 bytes of SHA-256 over the raw public key.
std::string KeyId(absl::string_view raw_public_key);

// The raw public key in a PEM public key (`openssl pkey -pubout`), or in a
// PEM private key. InvalidArgument naming `origin` for anything else.
absl::StatusOr<std::string> RawPublicKeyFromPem(absl::string_view pem, absl::string_view origin);
std::string PublicKeyPem(absl::string_view raw_public_key);

// OK when `signature` signs `data` under `raw_public_key`; PermissionDenied
// otherwise (wrong sizes included).
absl::Status VerifyEd25519(absl::string_view raw_public_key, absl::string_view data, absl::string_view signature);

class SigningKey {
 public:
  static absl::StatusOr<SigningKey> Generate();
  // Refuses a file that group or others may read or write (a private key
  // readable by every local user is no secret), and anything but Ed25519.
  static absl::StatusOr<SigningKey> FromPemFile(const std::string& path);
  static absl::StatusOr<SigningKey> FromPem(absl::string_view pem, absl::string_view origin);

  absl::StatusOr<std::string> Sign(absl::string_view data) const;
  const std::string& public_key() const { return public_key_; }
  const std::string& key_id() const { return key_id_; }
  // PKCS#8 PEM, for `droverctl keys` to write (mode 0600).
  absl::StatusOr<std::string> PrivatePem() const;

 private:
  SigningKey(std::shared_ptr<void> key, std::string public_key);
  std::shared_ptr<void> key_;  // EVP_PKEY, immutable once loaded
  std::string public_key_;
  std::string key_id_;
};

}  // namespace drover::trust
