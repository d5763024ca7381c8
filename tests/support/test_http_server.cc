#include "tests/support/test_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace drover::testing {

TestHttpServer::TestHttpServer(Handler handler, const Tls& tls) : handler_(std::move(handler)) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr || SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::fprintf(stderr, "TestHttpServer: cannot load %s / %s\n", tls.cert_file.c_str(), tls.key_file.c_str());
    ERR_print_errors_fp(stderr);
    std::abort();
  }
  ssl_ctx_ = ctx;
  // SSL_write cannot pass MSG_NOSIGNAL: a client that hangs up early must
  // not kill the test binary.
  signal(SIGPIPE, SIG_IGN);
  Start();
}

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) { Start(); }

void TestHttpServer::Start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 64) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    std::perror("TestHttpServer");
    std::abort();
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

TestHttpServer::~TestHttpServer() {
  (void)!write(stop_pipe_[1], "x", 1);
  thread_.join();
  close(listen_fd_);
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
  SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

std::string TestHttpServer::Url(const std::string& path) const {
  return absl::StrCat(ssl_ctx_ != nullptr ? "https" : "http", "://127.0.0.1:", port_, path);
}

void TestHttpServer::Serve() {
  for (;;) {
    pollfd fds[2] = {{stop_pipe_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents != 0) return;
    if (fds[1].revents & POLLIN) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      HandleConnection(fd);
      close(fd);
    }
  }
}

void TestHttpServer::HandleConnection(int fd) {
  SSL* ssl = nullptr;
  if (ssl_ctx_ != nullptr) {
    // A client that refuses the certificate aborts the handshake; bound the
    // wait for one that stalls.
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {
      ERR_clear_error();
      SSL_free(ssl);
      return;
    }
  }
  std::unique_ptr<SSL, void (*)(SSL*)> owned_ssl(ssl, [](SSL* s) {
    if (s != nullptr) {
      SSL_shutdown(s);
      SSL_free(s);
    }
  });
  auto read_some = [&](char* buf, size_t size) -> ssize_t {
    if (ssl != nullptr) return SSL_read(ssl, buf, static_cast<int>(size));
    return read(fd, buf, size);
  };
  auto write_some = [&](const char* data, size_t size) -> ssize_t {
    if (ssl != nullptr) return SSL_write(ssl, data, static_cast<int>(size));
    return send(fd, data, size, MSG_NOSIGNAL);
  };
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    if (ssl == nullptr || SSL_pending(ssl) == 0) {
      pollfd p[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (poll(p, 2, 10000) <= 0 || p[1].revents != 0) return;
    }
    ssize_t n = read_some(buf, sizeof(buf));
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  const size_t sp1 = request.find(' ');
  const size_t sp2 = request.find(' ', sp1 + 1);
  const std::string path = sp1 == std::string::npos || sp2 == std::string::npos
                               ? "/"
                               : request.substr(sp1 + 1, sp2 - sp1 - 1);
  Response response = handler_(path);
  if (response.delay > absl::ZeroDuration()) {
    // Answer late, but leave at once when the server stops.
    pollfd p{stop_pipe_[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(response.delay))) != 0) return;
  }
  std::string out = absl::StrCat("HTTP/1.1 ", response.status, " X\r\nConnection: close\r\n");
  if (response.chunked) {
    out.append("Transfer-Encoding: chunked\r\n\r\n");
    // Uneven chunks, to exercise the client's chunk parser.
    size_t pos = 0;
    size_t size = 1;
    while (pos < response.body.size()) {
      const size_t take = std::min(size, response.body.size() - pos);
      absl::StrAppend(&out, absl::Hex(take), ";ext=1\r\n", response.body.substr(pos, take), "\r\n");
      pos += take;
      size = size * 3 + 1;
    }
    out.append("0\r\nX-Trailer: 1\r\n\r\n");
  } else {
    absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n\r\n", response.body);
  }
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = write_some(out.data() + done, out.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

TestHttpServer::Handler TestHttpServer::ServeDirectory(std::string dir) {
  return [dir = std::move(dir)](const std::string& path) -> Response {
    if (path.empty() || path[0] != '/' || path.find("..") != std::string::npos) return {404, "bad path\n"};
    std::ifstream in(dir + path, std::ios::binary);
    if (!in) return {404, "not found\n"};
    std::stringstream ss;
    ss << in.rdbuf();
    return {200, ss.str()};
  };
}

}  // namespace drover::testing
