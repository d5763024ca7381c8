#include "coordinator/api/operator_token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace drover::api {

namespace {
constexpr size_t kTokenBytes = 32;
constexpr size_t kEncodedLength = 43;  // base64url of 32 bytes, unpadded
}  // namespace

absl::StatusOr<std::string> NewOperatorToken() {
  unsigned char bytes[kTokenBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("the system's random source failed; no token was made");
  }
  return absl::StrCat(kOperatorTokenPrefix,
                      absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

std::string OperatorTokenSha256Hex(absl::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // SHA-256 of a short string cannot fail short of memory exhaustion.
  if (EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr) != 1) abort();
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

bool LooksLikeOperatorToken(absl::string_view token) {
  if (!absl::ConsumePrefix(&token, kOperatorTokenPrefix) || token.size() != kEncodedLength) return false;
  for (char c : token) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace drover::api
