// The WWW-Authenticate challenge of a registry's 401 (RFC 7235 auth-params):
// libcurl answers Basic challenges itself but exposes no parser for the
// Bearer parameters the registry token protocol needs.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::oci {

struct AuthChallenge {
  std::string scheme;                        // lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  // lowercase names: realm, service, scope
};

// The first challenge of a header value, e.g.
//   Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
// InvalidArgument (quoting the value, cut short) when it does not parse.
absl::StatusOr<AuthChallenge> ParseAuthChallenge(absl::string_view header);

}  // namespace drover::oci
