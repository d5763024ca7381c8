#include "agent-updater/kube/kube_api.h"

#include <curl/curl.h>

#include <cstdlib>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/atomic_file.h"
#include "nlohmann/json.hpp"

namespace drover::updater::kube {
namespace {

// Kubernetes objects the updater reads are small; a bigger answer is wrong.
constexpr size_t kMaxBodyBytes = 8u << 20;

size_t Append(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > kMaxBodyBytes) return 0;
  body->append(data, size * n);
  return size * n;
}

// A watch's stream: complete lines go to the caller as they arrive; an
// answer other than 200 is kept whole for its error message.
struct Stream {
  CURL* curl = nullptr;
  const std::function<void()>* on_open = nullptr;
  const std::function<bool(const std::string&)>* on_event = nullptr;
  const std::function<bool()>* stop = nullptr;
  std::string pending;  // a line not complete yet, or a non-200 body
  bool left = false;    // the caller asked to leave the stream
};

size_t StreamLines(char* data, size_t size, size_t n, void* out) {
  auto* st = static_cast<Stream*>(out);
  long code = 0;
  curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
  if (st->pending.size() + size * n > kMaxBodyBytes) return 0;  // one event this big is wrong
  st->pending.append(data, size * n);
  if (code != 200) return size * n;
  size_t start = 0;
  for (size_t nl; (nl = st->pending.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = st->pending.substr(start, nl - start);
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    if (!(*st->on_event)(line)) {
      st->left = true;
      return 0;
    }
  }
  st->pending.erase(0, start);
  return size * n;
}

// The end of the answer's headers: a 200 opens the stream.
size_t StreamHeader(char* data, size_t size, size_t n, void* out) {
  auto* st = static_cast<Stream*>(out);
  if (size * n <= 2 && (size * n == 0 || data[0] == '\r' || data[0] == '\n')) {
    long code = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200) (*st->on_open)();
  }
  return size * n;
}

int StreamProgress(void* out, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<Stream*>(out);
  if ((*st->stop)()) {
    st->left = true;
    return 1;
  }
  return 0;
}

// The "message" of a Kubernetes Status object, or the body's start.
std::string ServerMessage(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("message") && doc["message"].is_string()) {
    return doc["message"].get<std::string>();
  }
  return body.substr(0, 200);
}

class CurlKubeApi final : public KubeApi {
 public:
  explicit CurlKubeApi(KubeApiOptions options) : options_(std::move(options)) {}

  absl::StatusOr<std::string> Get(const std::string& path) override { return Call("GET", path, "", nullptr); }
  absl::StatusOr<std::string> JsonPatch(const std::string& path, const std::string& patch) override {
    return Call("PATCH", path, patch, nullptr);
  }
  absl::Status Delete(const std::string& path, const std::string& body) override {
    absl::StatusOr<std::string> r = Call("DELETE", path, body, nullptr);
    return r.ok() || absl::IsNotFound(r.status()) ? absl::OkStatus() : r.status();
  }
  absl::Status Watch(const std::string& path, const std::function<void()>& on_open,
                     const std::function<bool(const std::string&)>& on_event,
                     const std::function<bool()>& stop) override {
    Stream st;
    st.on_open = &on_open;
    st.on_event = &on_event;
    st.stop = &stop;
    return Call("GET", path, "", &st).status();
  }

 private:
  // `stream`: a watch, its lines handed over as they come.
  absl::StatusOr<std::string> Call(const char* method, const std::string& path, const std::string& body,
                                   Stream* stream) {
    absl::StatusOr<std::string> token = ReadFile(options_.token_file);
    if (!token.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("cannot read the service-account token ", options_.token_file,
                                                        ": ", token.status().message()));
    }
    const std::string url = options_.server + path;
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return absl::InternalError("curl_easy_init failed");
    std::string answer;
    char error[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    headers = curl_slist_append(
        headers, absl::StrCat("Authorization: Bearer ", absl::StripAsciiWhitespace(*token)).c_str());
    headers = curl_slist_append(headers, "Accept: application/json");
    if (std::string(method) == "PATCH") headers = curl_slist_append(headers, "Content-Type: application/json-patch+json");
    if (std::string(method) == "DELETE" && !body.empty()) {
      headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_guard(headers, curl_slist_free_all);
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (stream != nullptr) {
      stream->curl = c;
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, StreamLines);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, stream);
      curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, StreamProgress);
      curl_easy_setopt(c, CURLOPT_XFERINFODATA, stream);
      curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, StreamHeader);
      curl_easy_setopt(c, CURLOPT_HEADERDATA, stream);
      // A connection dropped without a FIN (an API server failing over, a
      // load balancer's idle cut) would look like a quiet stream until the
      // timeout: TCP keepalives find it within about a minute.
      curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
      curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
      curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 15L);
      curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.watch_timeout)));
    } else {
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
    }
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");  // the API server is never reached through a proxy variable
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!body.empty()) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    const CURLcode rc = curl_easy_perform(c);
    const std::string what = absl::StrCat(method, " ", url);
    if (stream != nullptr && stream->left) return std::string();
    if (stream != nullptr) answer = std::move(stream->pending);
    if (rc != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat("Kubernetes API: ", what, ": ", error[0] ? error : curl_easy_strerror(rc),
                                                 "; check --kube_api (or KUBERNETES_SERVICE_HOST/_PORT) and the CA"));
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200 || code == 201 || code == 202) return answer;
    const std::string msg = absl::StrCat("Kubernetes API: ", what, " answered ", code, ": ", ServerMessage(answer));
    switch (code) {
      case 401:
        return absl::UnauthenticatedError(
            absl::StrCat(msg, "; the token in ", options_.token_file, " was refused (expired or not this cluster's)"));
      case 403:
        return absl::PermissionDeniedError(absl::StrCat(
            msg, "; the service account lacks RBAC for this (see README: Kubernetes updater)"));
      case 404: return absl::NotFoundError(msg);
      case 410: return absl::OutOfRangeError(msg);
      case 409:
      case 422: return absl::AbortedError(msg);
      default: return code >= 500 ? absl::UnavailableError(msg) : absl::InternalError(msg);
    }
  }

  const KubeApiOptions options_;
};

}  // namespace

absl::StatusOr<KubeApiOptions> InClusterOptions() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return absl::FailedPreconditionError(
        "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: not running in a pod; pass --kube_api, "
        "--kube_ca_file and --kube_token_file");
  }
  KubeApiOptions o;
  const std::string h = host;
  o.server = absl::StrCat("https://", absl::StrContains(h, ':') ? absl::StrCat("[", h, "]") : h, ":", port);
  o.ca_file = absl::StrCat(kServiceAccountDir, "/ca.crt");
  o.token_file = absl::StrCat(kServiceAccountDir, "/token");
  return o;
}

std::unique_ptr<KubeApi> MakeCurlKubeApi(KubeApiOptions options) {
  // Watches run on their own threads: libcurl's global state is set up
  // once, before any of them.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<CurlKubeApi>(std::move(options));
}

}  // namespace drover::updater::kube
