// Operator bearer tokens: made from 32 random bytes (OpenSSL RAND_bytes),
// recognisable by their prefix, stored only as their SHA-256.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::api {

inline constexpr char kOperatorTokenPrefix[] = "drover_op_";

// A new token: the prefix and 43 base64url characters. Internal when the
// system's random source fails.
absl::StatusOr<std::string> NewOperatorToken();

// SHA-256 of the token, lowercase hex: what the store keeps and looks up.
std::string OperatorTokenSha256Hex(absl::string_view token);

// The prefix followed by 43 base64url characters.
bool LooksLikeOperatorToken(absl::string_view token);

}  // namespace drover::api
