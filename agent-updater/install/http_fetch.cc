#include "agent-updater/install/http_fetch.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace drover::updater {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxIgnoredBody = 64 * 1024;

using Sink = std::function<absl::Status(int status, absl::string_view chunk)>;

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Waits until `fd` is ready for `events` or the deadline passes.
absl::Status Wait(int fd, short events, absl::Time deadline, absl::string_view what) {
  for (;;) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) return absl::DeadlineExceededError(absl::StrCat("timed out while ", what));
    pollfd p{fd, events, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 60'000)));
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
  }
}

absl::StatusOr<Socket> Connect(const HttpUrl& url, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  // getaddrinfo cannot be bounded by the deadline; agents and tarball
  // servers are normally named by address or by /etc/hosts.
  const int rc = getaddrinfo(url.host.c_str(), absl::StrCat(url.port).c_str(), &hints, &res);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("cannot resolve ", url.host, ": ", gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(res, &freeaddrinfo);
  absl::Status last = absl::UnavailableError(absl::StrCat("no address for ", url.host));
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    Socket s(socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (s.fd() < 0) {
      last = absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
      continue;
    }
    if (connect(s.fd(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = absl::UnavailableError(absl::StrCat("connect to ", url.HostPort(), ": ", std::strerror(errno)));
        continue;
      }
      absl::Status w = Wait(s.fd(), POLLOUT, deadline, absl::StrCat("connecting to ", url.HostPort()));
      if (!w.ok()) return w;
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = absl::UnavailableError(absl::StrCat("connect to ", url.HostPort(), ": ", std::strerror(err)));
        continue;
      }
    }
    return s;
  }
  return last;
}

// Buffered reads from the socket, each bounded by the deadline.
class Reader {
 public:
  Reader(int fd, absl::Time deadline) : fd_(fd), deadline_(deadline) {}

  // Appends what arrives to the buffer; false at end of stream.
  absl::StatusOr<bool> Fill() {
    char buf[16384];
    for (;;) {
      absl::Status w = Wait(fd_, POLLIN, deadline_, "reading the response");
      if (!w.ok()) return w;
      const ssize_t n = read(fd_, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) return absl::UnavailableError(absl::StrCat("read: ", std::strerror(errno)));
      if (n == 0) return false;
      buf_.append(buf, static_cast<size_t>(n));
      return true;
    }
  }

  // The next line without its CRLF, at most `max` bytes.
  absl::StatusOr<std::string> Line(size_t max) {
    for (;;) {
      const size_t eol = buf_.find('\n', pos_);
      if (eol != std::string::npos) {
        std::string line = buf_.substr(pos_, eol - pos_);
        pos_ = eol + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      if (buf_.size() - pos_ > max) return absl::UnavailableError("response line too long");
      Compact();
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) return absl::UnavailableError("connection closed in the middle of the response headers");
    }
  }

  // Passes up to `n` bytes (all until EOF when n is npos) to `out`.
  absl::Status Body(size_t n, const std::function<absl::Status(absl::string_view)>& out) {
    size_t left = n;
    for (;;) {
      const size_t take = std::min(left, buf_.size() - pos_);
      if (take > 0) {
        absl::Status s = out(absl::string_view(buf_).substr(pos_, take));
        if (!s.ok()) return s;
        pos_ += take;
        if (left != std::string::npos) left -= take;
      }
      if (left == 0) return absl::OkStatus();
      Compact();
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) {
        if (n == std::string::npos) return absl::OkStatus();
        return absl::UnavailableError("connection closed before the end of the body");
      }
    }
  }

 private:
  void Compact() {
    buf_.erase(0, pos_);
    pos_ = 0;
  }

  int fd_;
  absl::Time deadline_;
  std::string buf_;
  size_t pos_ = 0;
};

absl::Status SendAll(int fd, absl::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      absl::Status w = Wait(fd, POLLOUT, deadline, "sending the request");
      if (!w.ok()) return w;
      continue;
    }
    if (n < 0) return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Exchange(const HttpUrl& url, const HttpFetchOptions& options, const Sink& sink) {
  const absl::Time deadline = absl::Now() + options.timeout;
  absl::StatusOr<Socket> socket = Connect(url, deadline);
  if (!socket.ok()) return socket.status();
  const std::string request = absl::StrCat("GET ", url.path, " HTTP/1.1\r\nHost: ", url.HostPort(),
                                           "\r\nUser-Agent: drover-updater\r\nAccept: */*\r\n"
                                           "Accept-Encoding: identity\r\nConnection: close\r\n\r\n");
  absl::Status sent = SendAll(socket->fd(), request, deadline);
  if (!sent.ok()) return sent;

  Reader reader(socket->fd(), deadline);
  int status = 0;
  // Skip interim 1xx responses.
  for (;;) {
    absl::StatusOr<std::string> line = reader.Line(kMaxHeaderBytes);
    if (!line.ok()) return line.status();
    std::vector<absl::string_view> parts = absl::StrSplit(*line, absl::MaxSplits(' ', 2));
    if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/1.") || !absl::SimpleAtoi(parts[1], &status) ||
        status < 100 || status > 999) {
      return absl::UnavailableError(absl::StrCat("not an HTTP response: \"", line->substr(0, 80), "\""));
    }
    if (status >= 200) break;
    for (;;) {  // headers of the interim response
      absl::StatusOr<std::string> h = reader.Line(kMaxHeaderBytes);
      if (!h.ok()) return h.status();
      if (h->empty()) break;
    }
  }

  bool chunked = false;
  std::optional<uint64_t> content_length;
  size_t header_bytes = 0;
  for (;;) {
    absl::StatusOr<std::string> line = reader.Line(kMaxHeaderBytes);
    if (!line.ok()) return line.status();
    if (line->empty()) break;
    header_bytes += line->size();
    if (header_bytes > kMaxHeaderBytes) return absl::UnavailableError("response headers too large");
    const size_t colon = line->find(':');
    if (colon == std::string::npos) continue;
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line->substr(0, colon)));
    const absl::string_view value = absl::StripAsciiWhitespace(absl::string_view(*line).substr(colon + 1));
    if (name == "transfer-encoding") {
      chunked = absl::StrContains(absl::AsciiStrToLower(value), "chunked");
    } else if (name == "content-length") {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) {
        return absl::UnavailableError(absl::StrCat("bad Content-Length \"", value, "\""));
      }
      content_length = n;
    }
  }

  const bool wanted = status >= 200 && status < 300;
  const size_t cap = wanted ? options.max_body_bytes : std::min(options.max_body_bytes, kMaxIgnoredBody);
  size_t total = 0;
  auto out = [&](absl::string_view chunk) -> absl::Status {
    total += chunk.size();
    if (total > cap) {
      return absl::ResourceExhaustedError(absl::StrCat("HTTP ", status, " body is larger than ", cap, " bytes"));
    }
    return sink(status, chunk);
  };
  if (!chunked && content_length.has_value() && *content_length > cap) {
    return absl::ResourceExhaustedError(
        absl::StrCat("HTTP ", status, " body is ", *content_length, " bytes, more than the limit of ", cap));
  }
  if (status == 204 || status == 304) return status;
  if (!chunked) {
    absl::Status s = reader.Body(content_length.has_value() ? *content_length : std::string::npos, out);
    if (!s.ok()) return s;
    return status;
  }
  for (;;) {
    absl::StatusOr<std::string> line = reader.Line(1024);
    if (!line.ok()) return line.status();
    const absl::string_view size_text = absl::StripAsciiWhitespace(absl::string_view(*line).substr(0, line->find(';')));
    uint64_t size = 0;
    if (size_text.empty() || size_text.size() > 15 || !absl::SimpleHexAtoi(size_text, &size)) {
      return absl::UnavailableError(absl::StrCat("bad chunk size \"", line->substr(0, 40), "\""));
    }
    if (size == 0) break;
    absl::Status s = reader.Body(size, out);
    if (!s.ok()) return s;
    absl::StatusOr<std::string> crlf = reader.Line(2);
    if (!crlf.ok()) return crlf.status();
  }
  for (;;) {  // trailers
    absl::StatusOr<std::string> line = reader.Line(kMaxHeaderBytes);
    if (!line.ok()) return line.status();
    if (line->empty()) return status;
  }
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
  if (absl::StartsWithIgnoreCase(url, "https://")) {
    return absl::UnimplementedError(absl::StrCat("\"", url,
                                                 "\": https is not supported; use an http:// URL or a local "
                                                 "directory (tarballs are authenticated by their signatures)"));
  }
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" is not an http://host[:port]/path URL"));
  }
  HttpUrl out;
  const size_t slash = rest.find_first_of("/?");
  absl::string_view authority = rest.substr(0, slash);
  out.path = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.path.front() == '?') out.path.insert(0, "/");
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
  absl::StatusOr<int> status = Exchange(*parsed, options, [&](int, absl::string_view chunk) {
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
  absl::StatusOr<int> status = Exchange(*parsed, options, [&](int code, absl::string_view chunk) {
    if (code >= 200 && code < 300) return sink(chunk);
    return absl::OkStatus();
  });
  if (!status.ok()) return WithUrl(url, status.status());
  return *status;
}

}  // namespace drover::updater
