// The few calls the updater makes to the Kubernetes API server, and their
// implementation over libcurl with a service account's bearer token.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace drover::updater::kube {

class KubeApi {
 public:
  virtual ~KubeApi() = default;
  // The body of a 200 answer. Errors, with the server's message:
  // Unavailable (not reached, 5xx), Unauthenticated (401: the token),
  // PermissionDenied (403: RBAC), NotFound (404), Aborted (409, 422: a
  // patch's test failed or a conflict), OutOfRange (410 Gone: a watch's
  // resourceVersion is too old), Internal otherwise.
  virtual absl::StatusOr<std::string> Get(const std::string& path) = 0;
  // PATCH with Content-Type application/json-patch+json.
  virtual absl::StatusOr<std::string> JsonPatch(const std::string& path, const std::string& patch) = 0;
  // DELETE with `body` (DeleteOptions JSON, or empty); OK also when the
  // object is already gone (404). Aborted (409) when a precondition of the
  // body does not hold.
  virtual absl::Status Delete(const std::string& path, const std::string& body) = 0;
  // A watch: GET `path` (which carries ?watch=1...). `on_open` is called
  // once the server answered 200 (the stream is open), then each line of
  // the stream (one JSON watch event) goes to `on_event` as it arrives.
  // Returns OK when the server ends the stream (its timeoutSeconds), when
  // `on_event` returns false, or when `stop` returns true (checked about
  // once a second, so a stream that sends nothing can still be left);
  // errors as Get's, for an answer other than 200.
  virtual absl::Status Watch(const std::string& path, const std::function<void()>& on_open,
                             const std::function<bool(const std::string&)>& on_event,
                             const std::function<bool()>& stop) = 0;
};

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubeApiOptions {
  // "https://host:port"; "http://" only when given explicitly (tests).
  std::string server;
  std::string ca_file;
  // Read again for every request: projected tokens rotate.
  std::string token_file;
  absl::Duration timeout = absl::Seconds(15);
  // A watch's whole stream, beyond the timeoutSeconds it asks the server for.
  absl::Duration watch_timeout = absl::Minutes(10);
};

// The in-cluster defaults: KUBERNETES_SERVICE_HOST/_PORT and the mounted
// service account. FailedPrecondition when not in a pod.
absl::StatusOr<KubeApiOptions> InClusterOptions();

std::unique_ptr<KubeApi> MakeCurlKubeApi(KubeApiOptions options);

}  // namespace drover::updater::kube
