// A small HTTP(S) GET client on libcurl with an overall deadline and a body
// size cap: fetches tarballs and runs HTTP health checks. TLS certificates
// are always verified, against the system CA store or a pinned CA file.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace drover::updater {

struct HttpUrl {
  bool https = false;
  std::string host;  // without brackets for IPv6
  int port = 80;
  std::string path;  // "/..." including any query
  // "host:port" as written in the Host header and messages.
  std::string HostPort() const;
};

// InvalidArgument for anything but http(s)://host[:port][/path].
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url);

struct HttpFetchOptions {
  // For the whole exchange: resolve, connect, TLS handshake, send, headers
  // and body.
  absl::Duration timeout = absl::Seconds(60);
  // A larger body fails with ResourceExhausted.
  size_t max_body_bytes = 256u << 20;
  // PEM file of the CA certificate(s) an https server's certificate must
  // chain to; only these are trusted. Empty: the system CA store.
  std::string ca_file;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET `url`. Any status code is a response, not an error; errors name the
// URL and are Unavailable (cannot connect, connection broken, malformed
// response, TLS certificate not trusted or not for this host),
// DeadlineExceeded, ResourceExhausted, InvalidArgument (bad URL, unreadable
// CA file). Redirects are not followed; proxies from the environment are
// not used.
absl::StatusOr<HttpResponse> HttpGet(absl::string_view url, const HttpFetchOptions& options = {});

// The same, streaming the body to `sink` instead of memory; returns the
// status code. The sink sees the body only for 2xx responses (for others it
// is read into nothing) and may fail the transfer by returning an error.
absl::StatusOr<int> HttpGetStreaming(absl::string_view url, const HttpFetchOptions& options,
                                     const std::function<absl::Status(absl::string_view)>& sink);

}  // namespace drover::updater
