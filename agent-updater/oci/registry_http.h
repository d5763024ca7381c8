// One HTTP exchange with a registry or its token server, on libcurl: method,
// headers, optional basic credentials, a body cap, response headers. Status
// codes are answers, not errors; the RegistryClient gives them meaning.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace drover::oci {

struct HttpTransportOptions {
  // For the whole exchange, connect to last byte.
  absl::Duration timeout = absl::Seconds(30);
  // PEM CA file an https server's certificate must chain to; empty: the system store.
  std::string ca_file;
  // http:// URLs are refused unless this is set (tests, a registry on loopback).
  bool allow_plain_http = false;
};

struct HttpRequest {
  std::string method = "GET";  // "GET" or "HEAD"
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Basic credentials, when user is not empty.
  std::string basic_user;
  std::string basic_password;
  // A 2xx body larger than this fails with ResourceExhausted.
  size_t max_body_bytes = 4u << 20;
  // Blob downloads may be redirected to storage; never across to http://
  // unless plain HTTP is allowed, and credentials are not sent along.
  bool follow_redirects = false;
};

struct HttpReply {
  int status = 0;
  // Lowercase names; the last value of a repeated header.
  std::map<std::string, std::string> headers;
  // For non-2xx answers only the first kMaxErrorBody bytes are kept.
  std::string body;

  std::string Header(absl::string_view lowercase_name) const;
};

inline constexpr size_t kMaxErrorBody = 16 * 1024;

// Errors: Unavailable (cannot resolve or connect, TLS refused, connection
// broken), DeadlineExceeded, ResourceExhausted (body cap), InvalidArgument
// (bad URL, plain HTTP not allowed, unreadable CA file). Messages name the
// method and URL.
absl::StatusOr<HttpReply> HttpExchange(const HttpRequest& request, const HttpTransportOptions& options);

// `text` percent-encoded for a query value.
std::string UrlEscape(absl::string_view text);

}  // namespace drover::oci
