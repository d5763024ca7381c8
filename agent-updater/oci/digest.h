// Content digests of manifests and blobs: only sha256 is accepted.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace drover::oci {

inline constexpr absl::string_view kSha256Prefix = "sha256:";

// True for "sha256:" followed by exactly 64 lowercase hex digits.
bool IsSha256Digest(absl::string_view digest);

// InvalidArgument naming `what` and quoting the value (cut short) unless
// IsSha256Digest(digest).
absl::Status CheckSha256Digest(absl::string_view digest, absl::string_view what);

// "sha256:<hex>" of `data`.
std::string Sha256Digest(absl::string_view data);

// The hex part of a sha256 digest (no check).
inline absl::string_view DigestHex(absl::string_view digest) { return digest.substr(kSha256Prefix.size()); }

// `text` quoted for a message, cut to `max` characters with "..." so a
// hostile value cannot flood a log.
std::string QuoteShort(absl::string_view text, size_t max = 80);

}  // namespace drover::oci
