// An HTTP/1.1 server on 127.0.0.1:<free port> inside a test, answering from a
// handler on its own thread: hermetic stand-in for a tarball server or an
// agent's health endpoint. With a certificate it speaks HTTPS (OpenSSL).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace drover::testing {

class TestHttpServer {
 public:
  struct Response {
    int status = 200;
    std::string body;
    // Waits this long before answering (to exercise client timeouts).
    absl::Duration delay = absl::ZeroDuration();
    // Transfer-Encoding: chunked instead of Content-Length.
    bool chunked = false;
  };
  using Handler = std::function<Response(const std::string& path)>;
  // PEM files of the server's certificate (chain) and private key.
  struct Tls {
    std::string cert_file;
    std::string key_file;
  };

  // Binds port 0 and starts serving; aborts the test binary if it cannot.
  explicit TestHttpServer(Handler handler);
  // The same over TLS; aborts if the certificate or key cannot be loaded.
  TestHttpServer(Handler handler, const Tls& tls);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  int port() const { return port_; }
  // "http(s)://127.0.0.1:<port><path>".
  std::string Url(const std::string& path = "") const;
  int requests() const { return requests_.load(); }

  // Serves the files of `dir` (404 for anything missing or outside it).
  static Handler ServeDirectory(std::string dir);

 private:
  void Start();
  void Serve();
  void HandleConnection(int fd);

  Handler handler_;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, when serving HTTPS
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace drover::testing
