// A small HTTP/1.1 GET client (plain http:// only) with an overall deadline
// and a body size cap: fetches tarballs and runs HTTP health checks, without
// pulling an HTTP library into a daemon that must stay small.
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
  std::string host;  // without brackets for IPv6
  int port = 80;
  std::string path;  // "/..." including any query
  // "host:port" as written in the Host header and messages.
  std::string HostPort() const;
};

// InvalidArgument for anything but http://host[:port][/path]; Unimplemented
// for https:// (not supported: serve tarballs over plain HTTP or a directory,
// authenticity comes from the signature).
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url);

struct HttpFetchOptions {
  // For the whole exchange: resolve, connect, send, headers and body.
  absl::Duration timeout = absl::Seconds(60);
  // A larger body fails with ResourceExhausted.
  size_t max_body_bytes = 256u << 20;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET `url`. Any status code is a response, not an error; errors are
// Unavailable (cannot connect, connection broken, malformed response),
// DeadlineExceeded, ResourceExhausted, and those of ParseHttpUrl. Redirects
// are not followed.
absl::StatusOr<HttpResponse> HttpGet(absl::string_view url, const HttpFetchOptions& options = {});

// The same, streaming the body to `sink` instead of memory; returns the
// status code. The sink sees the body only for 2xx responses (for others it
// is read into nothing) and may fail the transfer by returning an error.
absl::StatusOr<int> HttpGetStreaming(absl::string_view url, const HttpFetchOptions& options,
                                     const std::function<absl::Status(absl::string_view)>& sink);

}  // namespace drover::updater
