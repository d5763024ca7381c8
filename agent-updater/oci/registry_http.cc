#include "agent-updater/oci/registry_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace drover::oci {
namespace {

constexpr long kMaxRedirects = 5;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  CURL* curl = nullptr;
  size_t max_body = 0;
  std::string body;
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
  if (status < 200 || status >= 300) {
    // An error body only explains; keep its start, drop the rest.
    if (t.body.size() < kMaxErrorBody) t.body.append(data, std::min(n, kMaxErrorBody - t.body.size()));
    return n;
  }
  if (t.body.size() + n > t.max_body) {
    t.stopped = absl::ResourceExhaustedError(absl::StrCat("body is larger than the limit of ", t.max_body, " bytes"));
    return 0;
  }
  t.body.append(data, n);
  return n;
}

absl::Status TransferError(CURLcode rc, CURL* curl, const HttpTransportOptions& options, absl::string_view detail) {
  const std::string why = detail.empty() ? curl_easy_strerror(rc) : std::string(detail);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(
          absl::StrCat("timed out after ", absl::FormatDuration(options.timeout), " (", why, ")"));
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
      return absl::UnavailableError(
          absl::StrCat("cannot connect: ", os_errno != 0 ? std::strerror(static_cast<int>(os_errno)) : why));
    }
    case CURLE_PEER_FAILED_VERIFICATION:
      return absl::UnavailableError(absl::StrCat(
          "TLS certificate refused (it must chain to ",
          options.ca_file.empty() ? std::string("the system CA store") : absl::StrCat("the CA file ", options.ca_file),
          " and name the host): ", why));
    case CURLE_SSL_CACERT_BADFILE:
      return absl::InvalidArgumentError(absl::StrCat("cannot load CA file ", options.ca_file, ": ", why));
    case CURLE_FILESIZE_EXCEEDED:
      return absl::ResourceExhaustedError(why);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return absl::InvalidArgumentError(why);
    default:
      return absl::UnavailableError(why);
  }
}

using SList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

}  // namespace

std::string HttpReply::Header(absl::string_view lowercase_name) const {
  auto it = headers.find(std::string(lowercase_name));
  return it == headers.end() ? std::string() : it->second;
}

std::string UrlEscape(absl::string_view text) {
  InitCurlOnce();
  char* escaped = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) return std::string();
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

absl::StatusOr<HttpReply> HttpExchange(const HttpRequest& request, const HttpTransportOptions& options) {
  const auto with_url = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(request.method, " ", request.url, ": ", s.message()));
  };
  const bool https = absl::StartsWithIgnoreCase(request.url, "https://");
  if (!https && !(options.allow_plain_http && absl::StartsWithIgnoreCase(request.url, "http://"))) {
    return with_url(absl::InvalidArgumentError(
        options.allow_plain_http ? "only http:// and https:// URLs are supported"
                                 : "plain HTTP is not allowed (https only; plain HTTP needs the plain_http option)"));
  }
  InitCurlOnce();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> owned(curl_easy_init(), &curl_easy_cleanup);
  if (owned == nullptr) return absl::ResourceExhaustedError("cannot start an HTTP transfer (curl_easy_init)");
  CURL* curl = owned.get();
  Transfer t{curl, request.max_body_bytes};
  char errbuf[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.timeout)));
  const char* protocols = options.allow_plain_http ? "http,https" : "https";

  SList headers(nullptr, &curl_slist_free_all);
  for (const std::string& h : request.headers) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
    headers.release();
    headers.reset(next);
  }

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, kMaxRedirects);
  // Credentials stay with the host they were meant for (curl's default, stated).
  curl_easy_setopt(curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "drover-oci");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    return with_url(absl::InvalidArgumentError("only GET and HEAD are supported"));
  }
  if (!request.basic_user.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, request.basic_user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, request.basic_password.c_str());
  }

  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    if (!t.stopped.ok()) return with_url(t.stopped);
    return with_url(TransferError(rc, curl, options, absl::StripTrailingAsciiWhitespace(errbuf)));
  }
  HttpReply reply;
  reply.status = static_cast<int>(ResponseCode(curl));
  // The headers of the last response (after any redirects), parsed by libcurl.
  curl_header* prev = nullptr;
  while (curl_header* h = curl_easy_nextheader(curl, CURLH_HEADER, -1, prev)) {
    reply.headers[absl::AsciiStrToLower(h->name)] = h->value;
    prev = h;
  }
  reply.body = std::move(t.body);
  return reply;
}

}  // namespace drover::oci
