#include "agent-updater/install/http_fetch.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace drover::updater {
namespace {

// Bodies of non-2xx responses are read into nothing, up to this much.
constexpr size_t kMaxIgnoredBody = 64 * 1024;

using Sink = std::function<absl::Status(int status, absl::string_view chunk)>;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State the write callback shares with Exchange.
struct Transfer {
  CURL* curl = nullptr;
  const HttpFetchOptions* options = nullptr;
  const Sink* sink = nullptr;
  size_t total = 0;
  // Why the callback stopped the transfer (curl reports only "write error").
  absl::Status stopped;
};

long ResponseCode(CURL* curl) {
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  Transfer& t = *static_cast<Transfer*>(user);
  const size_t n = size * count;
  const long status = ResponseCode(t.curl);
  const bool wanted = status >= 200 && status < 300;
  const size_t cap = wanted ? t.options->max_body_bytes : std::min(t.options->max_body_bytes, kMaxIgnoredBody);
  if (t.total == 0) {
    curl_off_t length = -1;
    curl_easy_getinfo(t.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (length >= 0 && static_cast<uint64_t>(length) > cap) {
      t.stopped = absl::ResourceExhaustedError(
          absl::StrCat("HTTP ", status, " body is ", length, " bytes, more than the limit of ", cap));
      return 0;
    }
  }
  t.total += n;
  if (t.total > cap) {
    t.stopped = absl::ResourceExhaustedError(absl::StrCat("HTTP ", status, " body is larger than ", cap, " bytes"));
    return 0;
  }
  absl::Status s = (*t.sink)(static_cast<int>(status), absl::string_view(data, n));
  if (!s.ok()) {
    t.stopped = std::move(s);
    return 0;
  }
  return n;
}

// What a person reads for a failed transfer; `detail` is curl's own message.
absl::Status TransferError(CURLcode rc, const HttpUrl& url, const HttpFetchOptions& options, const Transfer& t,
                           absl::string_view detail) {
  if (!t.stopped.ok()) return t.stopped;
  const std::string why = detail.empty() ? curl_easy_strerror(rc) : std::string(detail);
  const std::string trust =
      options.ca_file.empty() ? "the system CA store" : absl::StrCat("the pinned CA file ", options.ca_file);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(
          absl::StrCat("timed out after ", absl::FormatDuration(options.timeout), " (", why, ")"));
    case CURLE_COULDNT_RESOLVE_HOST:
      return absl::UnavailableError(absl::StrCat("cannot resolve ", url.host, ": ", why));
    case CURLE_COULDNT_CONNECT: {
      // curl says "Couldn't connect to server"; the system's reason is clearer.
      long os_errno = 0;
      curl_easy_getinfo(t.curl, CURLINFO_OS_ERRNO, &os_errno);
      return absl::UnavailableError(absl::StrCat("cannot connect to ", url.HostPort(), ": ",
                                                 os_errno != 0 ? std::strerror(static_cast<int>(os_errno)) : why));
    }
    case CURLE_PEER_FAILED_VERIFICATION:
      // Never retried without verification: the certificate must chain to
      // the trusted CAs and name the host of the URL.
      return absl::UnavailableError(absl::StrCat("TLS certificate of ", url.HostPort(),
                                                 " refused (it must be signed by a CA in ", trust,
                                                 " and name host \"", url.host, "\"): ", why));
    case CURLE_SSL_CACERT_BADFILE:
      return absl::InvalidArgumentError(absl::StrCat("cannot load ", trust, ": ", why));
    case CURLE_SSL_CONNECT_ERROR:
      return absl::UnavailableError(absl::StrCat("TLS handshake with ", url.HostPort(), " failed: ", why));
    case CURLE_FILESIZE_EXCEEDED:
      return absl::ResourceExhaustedError(
          absl::StrCat("HTTP ", ResponseCode(t.curl), " body is larger than ", options.max_body_bytes, " bytes"));
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return absl::InvalidArgumentError(why);
    default:
      return absl::UnavailableError(why);
  }
}

absl::StatusOr<int> Exchange(absl::string_view raw_url, const HttpUrl& url, const HttpFetchOptions& options,
                             const Sink& sink) {
  InitCurlOnce();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> owned(curl_easy_init(), &curl_easy_cleanup);
  if (owned == nullptr) return absl::ResourceExhaustedError("cannot start an HTTP transfer (curl_easy_init)");
  CURL* curl = owned.get();
  Transfer t{curl, &options, &sink};
  char errbuf[CURL_ERROR_SIZE] = {0};
  const std::string url_text(raw_url);
  const long timeout_ms = static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.timeout)));

  curl_easy_setopt(curl, CURLOPT_URL, url_text.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  // Proxy variables in the environment are ignored, as before libcurl: an
  // agent's health endpoint on 127.0.0.1 must not go through a proxy.
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "drover-updater");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_body_bytes));
  // Verification is never turned off; these are curl's defaults, stated.
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) {
    // Only the pinned file: no CA directory besides it.
    curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  }

  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    return TransferError(rc, url, options, t, absl::StripTrailingAsciiWhitespace(errbuf));
  }
  return static_cast<int>(ResponseCode(curl));
}

absl::Status WithUrl(absl::string_view url, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("GET ", url, ": ", status.message()));
}

}  // namespace

std::string HttpUrl::HostPort() const {
  const std::string h = absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host;
  return absl::StrCat(h, ":", port);
}

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url) {
  HttpUrl out;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "https://")) {
    out.https = true;
    out.port = 443;
  } else if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" is not an http(s)://host[:port]/path URL"));
  }
  const size_t slash = rest.find_first_of("/?");
  absl::string_view authority = rest.substr(0, slash);
  out.path = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.path.front() == '?') out.path = absl::StrCat("/", out.path);
  if (absl::StrContains(authority, '@')) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": user names in URLs are not supported"));
  }
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": bad IPv6 host"));
    out.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) {
      return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": bad host"));
    }
    port_text = after;
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" has no host"));
  if (out.host.find_first_of(" \t\r\n/") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": bad host"));
  }
  if (!port_text.empty() && (!absl::SimpleAtoi(port_text, &out.port) || out.port < 1 || out.port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": bad port \"", port_text, "\""));
  }
  if (out.path.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": the path has whitespace; percent-encode it"));
  }
  return out;
}

absl::StatusOr<HttpResponse> HttpGet(absl::string_view url, const HttpFetchOptions& options) {
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl(url);
  if (!parsed.ok()) return parsed.status();
  HttpResponse response;
  absl::StatusOr<int> status = Exchange(url, *parsed, options, [&](int, absl::string_view chunk) {
    response.body.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  if (!status.ok()) return WithUrl(url, status.status());
  response.status = *status;
  return response;
}

absl::StatusOr<int> HttpGetStreaming(absl::string_view url, const HttpFetchOptions& options,
                                     const std::function<absl::Status(absl::string_view)>& sink) {
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl(url);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<int> status = Exchange(url, *parsed, options, [&](int code, absl::string_view chunk) {
    if (code >= 200 && code < 300) return sink(chunk);
    return absl::OkStatus();
  });
  if (!status.ok()) return WithUrl(url, status.status());
  return *status;
}

}  // namespace drover::updater
