// Teleport's version-server protocol ("v1" updaters), over HTTP(S), so a
// stock Teleport updater, or a Teleport proxy's forward URL, can use Drover
// as its version server:
//
//   GET /v1/<channel>/version   200 "v1.2.3", or "none" when nothing is to
//                               be installed
//   GET /v1/<channel>/critical  200 "yes" or "no"
//
// The same under Teleport's proxy path
// /v1/webapi/automaticupgrades/channel/<channel>/{version,critical}. A
// channel id may hold "/" ("stable/rolling"). HEAD is answered too.
// Optional query parameters `group` and `host_id` (a Drover extension) ask
// for that host's own answer under a staged rollout; without them the
// client is one of the catch-all, as a GetTarget with no host id.
//
// Bodies are bare (no newline): Teleport's shell updater compares the
// critical answer with the exact string "yes". 400 names a bad channel id
// or parameter, 404 an unknown channel or path, 405 a method other than
// GET/HEAD, 429 (Retry-After) a peer over the GetTarget rate, 503
// (Retry-After) when the answer cannot be read; error bodies never carry
// database text.
//
// Answers come from the caches GetTarget answers from (HostAnswers), so
// they agree with GetTarget and cost no query while the caches are warm.
// No authentication, as Teleport's: the answer is public, and its
// authenticity comes from TLS (--version_server_tls) or, for Drover's own
// updaters, from the signed metadata of GetTarget.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/answer_tag.h"
#include "common/rate_limiter.h"
#include "coordinator/watch/answer_tags.h"

namespace drover::watch {

// One parsed version-server request.
struct VersionRequest {
  enum class Kind { kVersion, kCritical };
  std::string channel;
  Kind kind = Kind::kVersion;
  HostKey host;
};

// Path and query (as sent, still URL-encoded) -> the request. NotFound for
// a path outside the protocol, InvalidArgument naming a bad channel id,
// host_id or group.
absl::StatusOr<VersionRequest> ParseVersionRequest(absl::string_view path, absl::string_view query);

// The body answered for `kind`: "v<target>" or "none"; "yes" or "no".
std::string VersionBody(VersionRequest::Kind kind, const AnswerFields& answer);

struct VersionServerOptions {
  std::string listen;  // host:port; port 0 picks one
  // Both set: HTTPS with this certificate (chain) and key, PEM.
  std::string tls_cert_file;
  std::string tls_key_file;
  int threads = 2;  // event loops sharing the socket
  // Per peer address; null: unlimited. Shared with GetTarget.
  KeyedRateLimiter* per_peer = nullptr;
  absl::Duration retry_after = absl::Seconds(30);  // told with 429 and 503
  absl::Duration idle_timeout = absl::Seconds(30);  // a keep-alive connection sending nothing
};

struct VersionServerCounters {
  std::atomic<uint64_t> version{0};   // 200 to .../version
  std::atomic<uint64_t> critical{0};  // 200 to .../critical
  std::atomic<uint64_t> bad_request{0};
  std::atomic<uint64_t> not_found{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> unavailable{0};
};

class VersionServer {
 public:
  static absl::StatusOr<std::unique_ptr<VersionServer>> Start(const VersionServerOptions& options,
                                                              HostAnswers* answers);
  virtual ~VersionServer() = default;
  // host:port actually bound.
  virtual std::string address() const = 0;
  virtual bool tls() const = 0;
  virtual const VersionServerCounters& counters() const = 0;
  // Closes every connection and stops the threads. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace drover::watch
