#include "agent-updater/daemon/watch_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace drover::updater {

namespace {

bool Unreserved(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~'; }

// Splits "host:port" (host may be "[v6]").
bool SplitHostPort(absl::string_view host_port, std::string* host, std::string* port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == host_port.size()) return false;
  absl::string_view h = host_port.substr(0, colon);
  if (absl::ConsumePrefix(&h, "[") && !absl::ConsumeSuffix(&h, "]")) return false;
  *host = std::string(h);
  *port = std::string(host_port.substr(colon + 1));
  return true;
}

}  // namespace

std::string UrlEncode(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (Unreserved(c)) {
      out.push_back(c);
    } else {
      const auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  return out;
}

std::string WatchPath(absl::string_view channel, absl::string_view host_id, absl::string_view group,
                      absl::string_view tag) {
  return absl::StrCat("/v1/watch?channel=", UrlEncode(channel), "&host_id=", UrlEncode(host_id),
                      "&group=", UrlEncode(group), "&tag=", UrlEncode(tag));
}

std::string WatchRequest(absl::string_view host_port, absl::string_view path) {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host_port,
                      "\r\nUser-Agent: drover-updater\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n");
}

std::string TagOfWatchBody(absl::string_view body) {
  body = absl::StripAsciiWhitespace(body);
  if (!absl::ConsumePrefix(&body, "tag=")) return "";
  return std::string(body);
}

WatchParse ParseWatchResponse(absl::string_view buffer) {
  WatchParse out;
  auto bad = [&](std::string why) {
    out.state = WatchParse::kBad;
    out.error = std::move(why);
    return out;
  };
  const size_t end = buffer.find("\r\n\r\n");
  if (end == absl::string_view::npos) {
    if (buffer.size() > kMaxWatchHeaderBytes) {
      return bad(absl::StrCat("answer headers longer than ", kMaxWatchHeaderBytes, " bytes"));
    }
    return out;  // kIncomplete
  }
  if (end > kMaxWatchHeaderBytes) return bad(absl::StrCat("answer headers longer than ", kMaxWatchHeaderBytes, " bytes"));
  absl::string_view head = buffer.substr(0, end);
  const size_t eol = std::min(head.find("\r\n"), head.size());
  absl::string_view status_line = head.substr(0, eol);
  head.remove_prefix(std::min(head.size(), eol + 2));
  // "HTTP/1.1 200 OK"
  absl::string_view rest = status_line;
  if (!absl::ConsumePrefix(&rest, "HTTP/1.1 ") && !absl::ConsumePrefix(&rest, "HTTP/1.0 ")) {
    return bad(absl::StrCat("not an HTTP/1.x answer: \"", absl::CHexEscape(status_line.substr(0, 64)), "\""));
  }
  const bool http10 = absl::StartsWith(status_line, "HTTP/1.0");
  int status = 0;
  if (rest.size() < 3 || !absl::SimpleAtoi(rest.substr(0, 3), &status) || status < 100 || status > 599 ||
      (rest.size() > 3 && rest[3] != ' ')) {
    return bad(absl::StrCat("bad status line: \"", absl::CHexEscape(status_line.substr(0, 64)), "\""));
  }
  out.response.status = status;
  out.response.close = http10;
  int64_t length = -1;
  while (!head.empty()) {
    const size_t next = std::min(head.find("\r\n"), head.size());
    absl::string_view line = head.substr(0, next);
    head.remove_prefix(std::min(head.size(), next + 2));
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return bad(absl::StrCat("bad header line: \"", absl::CHexEscape(line.substr(0, 64)), "\""));
    }
    const std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (name == "content-length") {
      int64_t n = 0;
      if (!absl::SimpleAtoi(value, &n) || n < 0 || (length >= 0 && n != length)) {
        return bad(absl::StrCat("bad Content-Length: \"", absl::CHexEscape(value.substr(0, 32)), "\""));
      }
      if (static_cast<uint64_t>(n) > kMaxWatchBodyBytes) {
        return bad(absl::StrCat("answer body of ", n, " bytes, more than ", kMaxWatchBodyBytes));
      }
      length = n;
    } else if (name == "transfer-encoding") {
      return bad(absl::StrCat("Transfer-Encoding \"", absl::CHexEscape(value.substr(0, 32)), "\" is not supported"));
    } else if (name == "connection") {
      const std::string v = absl::AsciiStrToLower(value);
      if (absl::StrContains(v, "close")) out.response.close = true;
      if (absl::StrContains(v, "keep-alive")) out.response.close = false;
    } else if (name == "retry-after") {
      int64_t seconds = 0;
      // A date form, or nonsense, is ignored: backoff applies.
      if (absl::SimpleAtoi(value, &seconds) && seconds > 0) {
        out.response.retry_after = absl::Seconds(std::min<int64_t>(seconds, 3600));
      }
    }
  }
  // 1xx, 204 and 304 carry no body; other answers without a length would be
  // delimited by closing, which the coordinator never does.
  const bool no_body = status < 200 || status == 204 || status == 304;
  if (no_body) length = 0;
  if (length < 0) return bad(absl::StrCat("answer ", status, " without Content-Length"));
  const size_t total = end + 4 + static_cast<size_t>(length);
  if (buffer.size() < total) return out;  // kIncomplete
  out.response.body = std::string(buffer.substr(end + 4, static_cast<size_t>(length)));
  out.response.consumed = total;
  out.state = WatchParse::kDone;
  return out;
}

std::string WithTag(absl::string_view path, absl::string_view tag) {
  const size_t at = path.rfind("&tag=");
  if (at == absl::string_view::npos) return std::string(path);
  const size_t end = std::min(path.find('&', at + 1), path.size());
  return absl::StrCat(path.substr(0, at), "&tag=", UrlEncode(tag), path.substr(end));
}

std::vector<WatchAddress> ResolveWatchAddress(const std::string& host, const std::string& port, std::string* error) {
  std::vector<WatchAddress> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0 || found == nullptr) {
    *error = absl::StrCat("cannot resolve \"", host, "\": ", rc != 0 ? gai_strerror(rc) : "no address");
    return out;
  }
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    WatchAddress address;
    std::memcpy(&address.addr, a->ai_addr, a->ai_addrlen);
    address.len = a->ai_addrlen;
    address.family = a->ai_family;
    out.push_back(address);
  }
  freeaddrinfo(found);
  if (out.empty()) *error = absl::StrCat("cannot resolve \"", host, "\": no usable address");
  return out;
}

WatchClient::WatchClient(std::function<double()> uniform, std::function<void(const std::string&)> log,
                         WatchResolver resolve)
    : uniform_(uniform),
      log_(std::move(log)),
      backoff_(kWatchBackoffInitial, kWatchBackoffMax, uniform),
      resolve_(std::move(resolve)) {}

WatchClient::~WatchClient() { CloseSocket(); }

short WatchClient::events() const {
  switch (state_) {
    case State::kConnecting:
      return POLLOUT;
    case State::kWaiting:
    case State::kIdle:    // reads a close, or a stray answer
    case State::kPaused:
      return POLLIN;
    default:
      return 0;
  }
}

void WatchClient::CloseSocket() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  in_.clear();
}

std::string TagAfterPass(absl::string_view pass_tag, bool pushed, absl::string_view announced) {
  if (pushed && !announced.empty() && pass_tag != announced) return std::string(announced);
  return std::string(pass_tag);
}

void WatchClient::Watch(absl::string_view host_port, absl::string_view path, absl::string_view tag, absl::Time now,
                        absl::string_view acted_on) {
  tag_ = std::string(tag);
  acted_on_ = acted_on == tag ? "" : std::string(acted_on);
  if (host_port.empty()) {
    CloseSocket();
    state_ = State::kOff;
    deadline_ = absl::InfiniteFuture();
    host_port_.clear();
    return;
  }
  path_ = std::string(path);
  if (host_port != host_port_) {
    CloseSocket();
    host_port_ = std::string(host_port);
    told_ = Told::kNothing;
    backoff_.Reset();
    Connect(now);
    return;
  }
  switch (state_) {
    case State::kOff:
      Connect(now);
      break;
    case State::kIdle: {
      // The coordinator drops a connection idle for a while (a long pass
      // kept this one idle): reconnect rather than fail on a dead socket.
      char byte;
      const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      const bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      if (closed || n > 0 || now - idle_since_ > kWatchIdleReconnect) {
        Connect(now);
      } else {
        SendPoll(now);
      }
      break;
    }
    default:
      // Connecting: the new path goes out once connected. Waiting: the
      // answer to the old poll is read first (compared with the new tag).
      // Paused or backing off: the new path goes out when that ends.
      break;
  }
}

void WatchClient::Fail(absl::Time now, const std::string& why, absl::Duration at_least, bool answered) {
  CloseSocket();
  state_ = State::kBackoff;
  const absl::Duration wait = std::max(backoff_.Next(), at_least * (1.0 + 0.2 * uniform_()));
  deadline_ = now + wait;
  refused_by_answer_ = answered;
  if (told_ != Told::kLost) {
    log_(absl::StrCat("watch ", host_port_, ": ", why, "; polling meanwhile, trying again in ",
                      absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(100))), " (and with backoff after)"));
    told_ = Told::kLost;
  }
}

void WatchClient::Connect(absl::Time now) {
  CloseSocket();
  addrs_.clear();
  last_connect_error_.clear();
  std::string host, port;
  if (!SplitHostPort(host_port_, &host, &port)) {
    Fail(now, absl::StrCat("\"", host_port_, "\" is not host:port"), kWatchRefusedRetry);
    return;
  }
  // Every address, in the resolver's order: "localhost" may name ::1 first
  // while the coordinator listens on 127.0.0.1.
  std::string error;
  addrs_ = resolve_(host, port, &error);
  if (addrs_.empty()) {
    Fail(now, error);
    return;
  }
  next_addr_ = 0;
  ConnectNext(now, "no usable address");
}

// Tries the next resolved address; `why` is what failed last.
void WatchClient::ConnectNext(absl::Time now, const std::string& why) {
  CloseSocket();
  while (next_addr_ < addrs_.size()) {
    const WatchAddress& a = addrs_[next_addr_++];
    fd_ = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) continue;
    // A vanished peer (a host that lost power, a NAT that forgot the flow)
    // is noticed in about 90 s, long before the read timeout.
    const int on = 1, idle = 60, interval = 10, count = 3;
    setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd_, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd_, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
    setsockopt(fd_, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&a.addr), a.len) == 0 || errno == EINPROGRESS) {
      state_ = State::kConnecting;
      deadline_ = now + kWatchConnectTimeout;
      return;
    }
    last_connect_error_ = absl::StrCat("connect: ", std::strerror(errno));
    CloseSocket();
  }
  Fail(now, last_connect_error_.empty() ? why : last_connect_error_);
}

void WatchClient::SendPoll(absl::Time now) {
  const std::string request = WatchRequest(host_port_, path_);
  const ssize_t n = send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(request.size())) {
    // A few hundred bytes into an idle socket: short only when it is broken.
    Fail(now, n < 0 ? absl::StrCat("send: ", std::strerror(errno)) : "send: connection stalled");
    return;
  }
  state_ = State::kWaiting;
  poll_sent_ = now;
  deadline_ = now + kWatchReadTimeout;
}

// After an answer that was no change: the next poll at once if this one was
// held a while (the coordinator held it for --watch_hold), else after the
// next backoff step, so that no peer (a proxy, anyone on the path, a
// coordinator with a tiny hold) can make the daemon poll in a tight loop.
void WatchClient::PollAgain(absl::Time now, bool close) {
  const bool held = now - poll_sent_ >= kMinHeldPoll;
  if (held) backoff_.Reset();
  if (close) {
    CloseSocket();
    if (held) {
      Connect(now);
    } else {
      state_ = State::kBackoff;
      deadline_ = now + std::max(kMinHeldPoll, backoff_.Next());
    }
    return;
  }
  if (held) {
    SendPoll(now);
  } else {
    state_ = State::kPaused;
    deadline_ = now + std::max(kMinHeldPoll, backoff_.Next());
  }
}

// Reads what arrived and handles the answer; true on a change.
bool WatchClient::ReadAnswers(absl::Time now) {
  char buf[2048];
  bool eof = false;
  for (;;) {
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      if (in_.size() > kMaxWatchHeaderBytes + kMaxWatchBodyBytes + 4) break;
      continue;
    }
    if (n == 0) eof = true;
    else if (errno == EINTR) continue;
    else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      Fail(now, absl::StrCat("recv: ", std::strerror(errno)));
      return false;
    }
    break;
  }
  if (!in_.empty()) {
    if (state_ != State::kWaiting) {
      Fail(now, "the coordinator sent an answer nobody asked for", absl::ZeroDuration(), true);
      return false;
    }
    WatchParse p = ParseWatchResponse(in_);
    if (p.state == WatchParse::kBad) {
      Fail(now, absl::StrCat("unreadable answer (", p.error, ")"), absl::ZeroDuration(), true);
      return false;
    }
    if (p.state == WatchParse::kDone) {
      // One poll, one answer: the coordinator never sends more.
      if (p.response.consumed != in_.size()) {
        Fail(now, "the coordinator sent more than one answer to one poll", absl::ZeroDuration(), true);
        return false;
      }
      in_.clear();
      return HandleAnswer(now, p.response);
    }
  }
  if (eof) {
    if (state_ == State::kIdle && in_.empty()) {
      // Closed between polls (a restart, an idle timeout): reconnect when
      // the next poll is due.
      CloseSocket();
      state_ = State::kOff;
      deadline_ = absl::InfiniteFuture();
      return false;
    }
    Fail(now, in_.empty() ? "the coordinator closed the connection" : "connection closed mid-answer");
  }
  return false;
}

bool WatchClient::HandleAnswer(absl::Time now, const WatchResponse& r) {
  if (r.status == 400 || r.status == 404) {
    Fail(now, absl::StrCat("refused the poll with ", r.status, " (", absl::StripAsciiWhitespace(r.body), ")"),
         kWatchRefusedRetry, true);
    return false;
  }
  if (r.status != 200 && r.status != 204) {
    Fail(now,
         absl::StrCat("answered ", r.status, r.body.empty() ? "" : " (", absl::StripAsciiWhitespace(r.body),
                      r.body.empty() ? "" : ")"),
         r.retry_after, true);
    return false;
  }
  if (told_ == Told::kLost && refused_by_answer_) {
    log_(absl::StrCat("watch ", host_port_, ": answering again; a change of this host's answer starts a pass"));
    told_ = Told::kConnected;
  }
  if (r.status == 200) {
    const std::string tag = TagOfWatchBody(r.body);
    if (!tag.empty() && tag == acted_on_) {
      // The answer the last pass acted on after all: nothing new; from now
      // on the polls name it, so the coordinator holds them.
      tag_ = tag;
      path_ = WithTag(path_, tag);
      acted_on_.clear();
    } else if (tag.empty() || tag != tag_) {
      announced_tag_ = tag;
      ++changes_;
      backoff_.Reset();
      if (r.close) {
        CloseSocket();
        state_ = State::kOff;
      } else {
        state_ = State::kIdle;
        idle_since_ = now;
      }
      deadline_ = absl::InfiniteFuture();
      return true;
    }
  }
  // Held with no change (204), or the change was the one acted on already.
  PollAgain(now, r.close);
  return false;
}

bool WatchClient::Step(absl::Time now, short revents) {
  switch (state_) {
    case State::kOff:
      return false;
    case State::kBackoff:
      if (now >= deadline_) Connect(now);
      return false;
    case State::kConnecting: {
      if (revents & (POLLOUT | POLLERR | POLLHUP)) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) {
          last_connect_error_ = absl::StrCat("connect: ", std::strerror(err));
          ConnectNext(now, last_connect_error_);
          return false;
        }
        last_connect_error_.clear();
        SendPoll(now);
        // Told once per loss of the connection itself; a coordinator that
        // refused polls (503, 404) is told back by its next good answer.
        if (state_ == State::kWaiting && told_ != Told::kConnected && !(told_ == Told::kLost && refused_by_answer_)) {
          log_(absl::StrCat("watch ", host_port_, ": connected; a change of this host's answer starts a pass"));
          told_ = Told::kConnected;
        }
        return false;
      }
      if (now >= deadline_) {
        last_connect_error_ = absl::StrCat("connect: no answer in ", absl::FormatDuration(kWatchConnectTimeout));
        ConnectNext(now, last_connect_error_);
      }
      return false;
    }
    case State::kPaused:
      if (revents & (POLLIN | POLLERR | POLLHUP)) return ReadAnswers(now);
      if (now >= deadline_) SendPoll(now);
      return false;
    case State::kWaiting:
    case State::kIdle:
      if (revents & (POLLIN | POLLERR | POLLHUP)) return ReadAnswers(now);
      if (state_ == State::kWaiting && now >= deadline_) {
        Fail(now, absl::StrCat("no answer in ", absl::FormatDuration(kWatchReadTimeout)));
      }
      return false;
  }
  return false;
}

}  // namespace drover::updater
