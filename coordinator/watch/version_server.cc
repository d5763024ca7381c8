#include "coordinator/watch/version_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/queue.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/watch/http_listen.h"

namespace drover::watch {
namespace {

constexpr absl::string_view kPrefix = "/v1/";
constexpr absl::string_view kProxyPrefix = "/v1/webapi/automaticupgrades/channel/";
constexpr size_t kMaxQueryBytes = 1024;
constexpr size_t kMaxPathBytes = 1024;
constexpr absl::string_view kUsage =
    "the version server answers GET /v1/<channel>/version and GET /v1/<channel>/critical";

// Percent-decoding of a path or query value; false on a malformed escape.
bool UrlDecode(absl::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace

absl::StatusOr<VersionRequest> ParseVersionRequest(absl::string_view raw_path, absl::string_view query) {
  if (raw_path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat("path longer than ", kMaxPathBytes, " bytes"));
  }
  std::string path;
  if (!UrlDecode(raw_path, &path)) {
    return absl::InvalidArgumentError(absl::StrCat("path \"", raw_path.substr(0, 120), "\" is not URL-encoded"));
  }
  VersionRequest r;
  absl::string_view rest = path;
  // Teleport's proxy path first: a channel id could also start with
  // "webapi/", but then the proxy's clients would be ambiguous anyway.
  if (!absl::ConsumePrefix(&rest, kProxyPrefix) && !absl::ConsumePrefix(&rest, kPrefix)) {
    return absl::NotFoundError(absl::StrCat("unknown path \"", raw_path.substr(0, 120), "\"; ", kUsage));
  }
  if (absl::ConsumeSuffix(&rest, "/version")) {
    r.kind = VersionRequest::Kind::kVersion;
  } else if (absl::ConsumeSuffix(&rest, "/critical")) {
    r.kind = VersionRequest::Kind::kCritical;
  } else {
    return absl::NotFoundError(absl::StrCat("unknown path \"", raw_path.substr(0, 120), "\"; ", kUsage));
  }
  r.channel = std::string(rest);
  if (absl::Status s = api::ValidateChannelId("channel", r.channel); !s.ok()) return s;

  if (query.size() > kMaxQueryBytes) {
    return absl::InvalidArgumentError(absl::StrCat("query longer than ", kMaxQueryBytes, " bytes"));
  }
  if (!query.empty()) {
    evkeyvalq params;
    TAILQ_INIT(&params);
    const std::string q(query);
    if (evhttp_parse_query_str(q.c_str(), &params) != 0) {
      evhttp_clear_headers(&params);
      return absl::InvalidArgumentError("the query string is not URL-encoded key=value pairs");
    }
    absl::Status bad;
    for (evkeyval* kv = params.tqh_first; kv != nullptr && bad.ok(); kv = kv->next.tqe_next) {
      const absl::string_view key = kv->key;
      if (key == "group") {
        r.host.group = kv->value;
      } else if (key == "host_id") {
        r.host.host_id = kv->value;
      } else {
        bad = absl::InvalidArgumentError(
            absl::StrCat("unknown query parameter \"", key.substr(0, 60), "\" (known: group, host_id)"));
      }
    }
    evhttp_clear_headers(&params);
    if (!bad.ok()) return bad;
    if (!r.host.host_id.empty()) {
      if (absl::Status s = api::ValidateHostId("host_id", r.host.host_id); !s.ok()) return s;
    }
    if (absl::Status s = api::ValidateGroup("group", r.host.group); !s.ok()) return s;
  }
  return r;
}

std::string VersionBody(VersionRequest::Kind kind, const AnswerFields& answer) {
  if (kind == VersionRequest::Kind::kCritical) return answer.critical ? "yes" : "no";
  return answer.target_version.empty() ? "none" : absl::StrCat("v", answer.target_version);
}

namespace {

void UsePthreadsOnce() {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
}

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

class VersionServerImpl final : public VersionServer {
 public:
  VersionServerImpl(const VersionServerOptions& options, HostAnswers* answers)
      : options_(options), answers_(answers) {}
  ~VersionServerImpl() override { Shutdown(); }

  absl::Status Init() {
    UsePthreadsOnce();
    if (options_.threads < 1) return absl::InvalidArgumentError("the version server needs at least one thread");
    if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
      return absl::InvalidArgumentError("the version server's TLS needs both a certificate and a key file");
    }
    if (!options_.tls_cert_file.empty()) {
      if (absl::Status s = InitTls(); !s.ok()) return s;
    }
    absl::StatusOr<evutil_socket_t> fd = ListenHttp("--version_server_listen", "the version server", options_.listen);
    if (!fd.ok()) return fd.status();
    address_ = BoundAddress(options_.listen, *fd);
    for (int i = 0; i < options_.threads; ++i) {
      // Each loop owns a copy of the socket (evhttp closes it when freed).
      const evutil_socket_t own = i == 0 ? *fd : dup(*fd);
      Loop loop;
      loop.base = event_base_new();
      loop.http = loop.base == nullptr ? nullptr : evhttp_new(loop.base);
      if (own < 0 || loop.http == nullptr || evhttp_accept_socket(loop.http, own) != 0) {
        if (own >= 0) close(own);
        if (loop.http != nullptr) evhttp_free(loop.http);
        if (loop.base != nullptr) event_base_free(loop.base);
        return absl::InternalError("cannot set up the version server's event loop");
      }
      evhttp_set_allowed_methods(loop.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                                EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
      evhttp_set_max_headers_size(loop.http, 8192);
      evhttp_set_max_body_size(loop.http, 4096);
      evhttp_set_timeout(loop.http, static_cast<int>(absl::ToInt64Seconds(options_.idle_timeout)));
      evhttp_set_gencb(loop.http, &VersionServerImpl::OnRequest, this);
      if (ssl_ctx_ != nullptr) evhttp_set_bevcb(loop.http, &VersionServerImpl::NewTlsConnection, ssl_ctx_);
      loops_.push_back(loop);
    }
    for (Loop& loop : loops_) {
      event_base* base = loop.base;
      threads_.emplace_back([base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
    }
    return absl::OkStatus();
  }

  std::string address() const override { return address_; }
  bool tls() const override { return ssl_ctx_ != nullptr; }
  const VersionServerCounters& counters() const override { return counters_; }

  void Shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    for (Loop& loop : loops_) event_base_loopbreak(loop.base);
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    for (Loop& loop : loops_) {
      evhttp_free(loop.http);
      event_base_free(loop.base);
    }
    loops_.clear();
    if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
    ssl_ctx_ = nullptr;
  }

 private:
  struct Loop {
    event_base* base = nullptr;
    evhttp* http = nullptr;
  };

  absl::Status InitTls() {
    ssl_ctx_ = SSL_CTX_new(TLS_server_method());
    if (ssl_ctx_ == nullptr) return absl::InternalError("cannot create a TLS context for the version server");
    SSL_CTX_set_min_proto_version(ssl_ctx_, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl_ctx_, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ssl_ctx_, options_.tls_cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("--tls_cert_file \"", options_.tls_cert_file,
                                                     "\": cannot load a PEM certificate chain: ", OpenSslError()));
    }
    if (SSL_CTX_use_PrivateKey_file(ssl_ctx_, options_.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ssl_ctx_) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("--tls_key_file \"", options_.tls_key_file,
                                                     "\": cannot load a PEM key matching the certificate: ",
                                                     OpenSslError()));
    }
    return absl::OkStatus();
  }

  static bufferevent* NewTlsConnection(event_base* base, void* arg) {
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(arg));
    if (ssl == nullptr) return nullptr;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
  }

  static void OnRequest(evhttp_request* req, void* arg) { static_cast<VersionServerImpl*>(arg)->Handle(req); }

  static void Reply(evhttp_request* req, int code, const char* reason, absl::string_view body,
                    absl::Duration retry_after = absl::ZeroDuration()) {
    evkeyvalq* headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
    // Teleport's clients cache an answer for a minute themselves; a shared
    // cache in between must not hold a critical answer back longer.
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    if (retry_after > absl::ZeroDuration()) {
      evhttp_add_header(headers, "Retry-After", absl::StrCat(absl::ToInt64Seconds(retry_after)).c_str());
    }
    evbuffer* buf = evbuffer_new();
    // libevent leaves a HEAD reply's body out itself but keeps its length.
    evbuffer_add(buf, body.data(), body.size());
    evhttp_send_reply(req, code, reason, buf);
    evbuffer_free(buf);
  }

  static std::string PeerKey(evhttp_request* req) {
    evhttp_connection* conn = evhttp_request_get_connection(req);
    char* address = nullptr;
    uint16_t port = 0;
    if (conn != nullptr) evhttp_connection_get_peer(conn, &address, &port);
    if (address == nullptr) return "unknown";
    const absl::string_view a = address;
    // The key GetTarget's limiter uses for the same peer (PeerAddress).
    return absl::StrContains(a, ':') ? absl::StrCat("ipv6:[", a, "]") : absl::StrCat("ipv4:", a);
  }

  void Handle(evhttp_request* req) {
    const evhttp_cmd_type method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
      counters_.bad_request.fetch_add(1, std::memory_order_relaxed);
      evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
      return Reply(req, 405, "Method Not Allowed", absl::StrCat(kUsage, "\n"));
    }
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* path = uri == nullptr ? nullptr : evhttp_uri_get_path(uri);
    const char* query = uri == nullptr ? nullptr : evhttp_uri_get_query(uri);
    absl::StatusOr<VersionRequest> r = ParseVersionRequest(path == nullptr ? "" : path, query == nullptr ? "" : query);
    if (absl::IsNotFound(r.status())) {
      counters_.not_found.fetch_add(1, std::memory_order_relaxed);
      return Reply(req, HTTP_NOTFOUND, "Not Found", absl::StrCat(r.status().message(), "\n"));
    }
    if (!r.ok()) {
      counters_.bad_request.fetch_add(1, std::memory_order_relaxed);
      return Reply(req, HTTP_BADREQUEST, "Bad Request", absl::StrCat(r.status().message(), "\n"));
    }
    if (options_.per_peer != nullptr && !options_.per_peer->Allow(PeerKey(req))) {
      counters_.rate_limited.fetch_add(1, std::memory_order_relaxed);
      return Reply(req, 429, "Too Many Requests",
                   absl::StrCat("too many requests from this address (--get_target_rate_per_peer ",
                                options_.per_peer->limit().per_second, "/s); retry later\n"),
                   options_.retry_after);
    }
    absl::StatusOr<AnswerFields> answer = answers_->AnswerFor(r->channel, r->host);
    if (absl::IsNotFound(answer.status())) {
      counters_.not_found.fetch_add(1, std::memory_order_relaxed);
      return Reply(req, HTTP_NOTFOUND, "Not Found", absl::StrCat("channel \"", r->channel, "\" not found\n"));
    }
    if (!answer.ok()) {
      // A database outage the caches cannot cover. The status may hold
      // database text: logged, never sent.
      counters_.unavailable.fetch_add(1, std::memory_order_relaxed);
      // At most one line per 10 s: an outage under load is one story.
      const int64_t now = absl::ToUnixSeconds(absl::Now());
      int64_t last = last_unavailable_log_.load(std::memory_order_relaxed);
      if (now - last >= 10 && last_unavailable_log_.compare_exchange_strong(last, now))
        LogWarning(absl::StrCat("version server: the answer for channel \"", r->channel,
                              "\" cannot be read: ", answer.status().ToString()));
      return Reply(req, 503, "Service Unavailable", "the target answer cannot be read now; retry later\n",
                   options_.retry_after);
    }
    (r->kind == VersionRequest::Kind::kVersion ? counters_.version : counters_.critical)
        .fetch_add(1, std::memory_order_relaxed);
    Reply(req, HTTP_OK, "OK", VersionBody(r->kind, *answer));
  }

  const VersionServerOptions options_;
  HostAnswers* const answers_;
  std::string address_;
  SSL_CTX* ssl_ctx_ = nullptr;
  std::vector<Loop> loops_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  bool stopped_ = false;
  std::atomic<int64_t> last_unavailable_log_{0};
  VersionServerCounters counters_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<VersionServer>> VersionServer::Start(const VersionServerOptions& options,
                                                                    HostAnswers* answers) {
  auto server = std::make_unique<VersionServerImpl>(options, answers);
  if (absl::Status s = server->Init(); !s.ok()) {
    server->Shutdown();
    return s;
  }
  return server;
}

}  // namespace drover::watch
