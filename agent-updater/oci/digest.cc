#include "agent-updater/oci/digest.h"

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace drover::oci {

bool IsSha256Digest(absl::string_view digest) {
  if (!absl::StartsWith(digest, kSha256Prefix)) return false;
  const absl::string_view hex = DigestHex(digest);
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

absl::Status CheckSha256Digest(absl::string_view digest, absl::string_view what) {
  if (IsSha256Digest(digest)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " ", QuoteShort(digest), " is not a digest of the form sha256:<64 lowercase hex digits>"));
}

std::string Sha256Digest(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // One-shot SHA-256 cannot fail short of memory exhaustion.
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return absl::StrCat(kSha256Prefix, absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), len)));
}

std::string QuoteShort(absl::string_view text, size_t max) {
  std::string out = "\"";
  out.append(absl::CHexEscape(text.substr(0, max)));
  if (text.size() > max) out.append("...");
  out.append("\"");
  return out;
}

}  // namespace drover::oci
