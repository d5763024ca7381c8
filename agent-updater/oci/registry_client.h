// A client of one registry's HTTP API v2 (the OCI distribution spec): tag to
// digest, manifests and blobs by digest (their sha256 checked), with
// anonymous, basic and bearer-token authentication.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent-updater/oci/registry_http.h"
#include "common/clock.h"

namespace drover::oci {

// The media types asked for when resolving a tag: either kind of manifest
// or index, OCI and Docker.
inline constexpr absl::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr absl::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr absl::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr absl::string_view kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

struct RegistryClientOptions {
  // Talk http:// instead of https:// (tests, a loopback registry). Token
  // realms on http:// are refused without it too.
  bool plain_http = false;
  // PEM CA file for the registry's and token server's certificates; empty:
  // the system store.
  std::string ca_file;
  absl::Duration timeout = absl::Seconds(30);
  // Basic credentials, sent to the registry (basic auth) or its token realm
  // (bearer auth); anonymous when username is empty. The password is read
  // from a file so it never appears on a command line.
  std::string username;
  std::string password_file;
  size_t max_manifest_bytes = 4u << 20;
  size_t max_blob_bytes = 64u << 20;
  // Token expiry is judged by this clock; nullptr: the real clock.
  const Clock* clock = nullptr;
};

struct Manifest {
  std::string digest;      // sha256 of `body`, checked
  std::string media_type;  // Content-Type as the registry sent it
  std::string body;
};

// What happened on degraded or notable paths, for metrics and tests.
struct RegistryClientStats {
  int64_t requests = 0;
  int64_t token_fetches = 0;
  int64_t auth_retries = 0;       // a 401 answered by authenticating and retrying
  int64_t head_fallbacks = 0;     // HEAD gave no usable digest; GET instead
  int64_t digest_mismatches = 0;  // bodies whose sha256 was not the digest
};

class RegistryClient {
 public:
  // `registry` is host[:port] as in an image reference. InvalidArgument for
  // a bad option; the password file's read error (NotFound, ...) naming it.
  static absl::StatusOr<std::unique_ptr<RegistryClient>> Create(absl::string_view registry,
                                                                RegistryClientOptions options);

  // The digest `tag` points at now: HEAD on the manifest (GET when HEAD gives
  // no Docker-Content-Digest; then the body's sha256 must equal the header).
  // NotFound for an unknown tag or repository; FailedPrecondition for a
  // digest that is not sha256:<64 hex>; DataLoss when a body does not match.
  absl::StatusOr<std::string> ResolveTag(absl::string_view repository, absl::string_view tag);

  // The manifest `reference` (a tag or a sha256 digest) names. By digest the
  // body must hash to it; by tag it must hash to Docker-Content-Digest when
  // the registry sends one.
  absl::StatusOr<Manifest> GetManifest(absl::string_view repository, absl::string_view reference);

  // The blob `digest`, checked against it; ResourceExhausted beyond
  // `max_bytes` (0: options.max_blob_bytes).
  absl::StatusOr<std::string> GetBlob(absl::string_view repository, absl::string_view digest, size_t max_bytes = 0);

  const std::string& registry() const { return registry_; }
  RegistryClientStats stats() const;

 private:
  struct CachedToken {
    std::string token;
    absl::Time expires;
  };

  RegistryClient(std::string registry, RegistryClientOptions options, std::string password);

  // GET/HEAD of `path` under /v2/ with authentication; `what` names the
  // object in messages. Non-auth statuses are returned as they are.
  absl::StatusOr<HttpReply> Send(absl::string_view method, absl::string_view repository, absl::string_view path,
                                 std::vector<std::string> headers, size_t max_body, bool follow_redirects,
                                 absl::string_view what);
  // Handles a 401: fetches a token (bearer) or switches to basic
  // credentials; PermissionDenied when neither can help.
  absl::Status Authenticate(const HttpReply& reply, absl::string_view repository, absl::string_view what);
  absl::StatusOr<CachedToken> FetchToken(const std::map<std::string, std::string>& params,
                                         absl::string_view fallback_scope, absl::string_view what);
  std::string Scope(absl::string_view repository) const;
  HttpTransportOptions Transport() const;
  const Clock& clock() const { return options_.clock != nullptr ? *options_.clock : real_clock_; }

  const std::string registry_;
  const RegistryClientOptions options_;
  const std::string password_;
  RealClock real_clock_;

  mutable absl::Mutex mu_;
  std::map<std::string, CachedToken> tokens_ ABSL_GUARDED_BY(mu_);  // by scope
  bool use_basic_ ABSL_GUARDED_BY(mu_) = false;
  RegistryClientStats stats_ ABSL_GUARDED_BY(mu_);
};

// "registry R repository P" and optional " tag T", for messages.
std::string Where(absl::string_view registry, absl::string_view repository, absl::string_view reference = "");

}  // namespace drover::oci
