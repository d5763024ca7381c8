#include "agent-updater/install/http_fetch.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"
#include "common/status_testing.h"
#include "tests/support/test_env.h"
#include "tests/support/test_http_server.h"

namespace drover::updater {
namespace {

using drover::testing::IsError;
using drover::testing::TestHttpServer;

TEST(ParseHttpUrlTest, Accepts) {
  absl::StatusOr<HttpUrl> u = ParseHttpUrl("http://127.0.0.1:8080/a/b?c=d");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->path, "/a/b?c=d");
  u = ParseHttpUrl("http://example.org");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->path, "/");
  u = ParseHttpUrl("http://[::1]:9/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->HostPort(), "[::1]:9");
}

TEST(ParseHttpUrlTest, AcceptsHttps) {
  absl::StatusOr<HttpUrl> u = ParseHttpUrl("https://tarballs.example.org/agent");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/agent");
  u = ParseHttpUrl("https://127.0.0.1:8443");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->HostPort(), "127.0.0.1:8443");
}

TEST(ParseHttpUrlTest, Refuses) {
  EXPECT_TRUE(IsError(ParseHttpUrl("ftp://x/y").status(), absl::StatusCode::kInvalidArgument,
                      {"\"ftp://x/y\"", "http(s)://"}));
  EXPECT_EQ(ParseHttpUrl("http://:80/").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h:99999/").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h:x/").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://u@h/").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h/a b").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpGetTest, ContentLengthAndChunkedBodies) {
  std::string big(200000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  TestHttpServer server([&](const std::string& path) -> TestHttpServer::Response {
    if (path == "/plain") return {200, big};
    if (path == "/chunked") return {200, big, absl::ZeroDuration(), true};
    if (path == "/empty") return {204, ""};
    return {404, "nope\n"};
  });
  absl::StatusOr<HttpResponse> r = HttpGet(server.Url("/plain"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, big);
  r = HttpGet(server.Url("/chunked"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, big);
  r = HttpGet(server.Url("/missing"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "nope\n");
  r = HttpGet(server.Url("/empty"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204);
}

TEST(HttpGetTest, StreamingSinksOnlySuccessfulBodies) {
  TestHttpServer server([](const std::string& path) -> TestHttpServer::Response {
    if (path == "/ok") return {200, "payload"};
    return {500, "server error page"};
  });
  std::string got;
  auto sink = [&](absl::string_view chunk) {
    got.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  };
  absl::StatusOr<int> code = HttpGetStreaming(server.Url("/ok"), {}, sink);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 200);
  EXPECT_EQ(got, "payload");
  got.clear();
  code = HttpGetStreaming(server.Url("/fail"), {}, sink);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 500);
  EXPECT_EQ(got, "");
  // A failing sink stops the transfer with its error.
  code = HttpGetStreaming(server.Url("/ok"), {}, [](absl::string_view) { return absl::DataLossError("disk full"); });
  EXPECT_TRUE(IsError(code.status(), absl::StatusCode::kDataLoss, {"disk full", server.Url("/ok")}));
}

TEST(HttpGetTest, SizeCap) {
  TestHttpServer server([](const std::string& path) -> TestHttpServer::Response {
    return {200, std::string(5000, 'z'), absl::ZeroDuration(), path == "/chunked"};
  });
  HttpFetchOptions options;
  options.max_body_bytes = 4096;
  EXPECT_TRUE(IsError(HttpGet(server.Url("/plain"), options).status(), absl::StatusCode::kResourceExhausted,
                      {"4096"}));
  EXPECT_TRUE(IsError(HttpGet(server.Url("/chunked"), options).status(), absl::StatusCode::kResourceExhausted,
                      {"4096"}));
}

TEST(HttpGetTest, TimeoutBoundsTheCall) {
  TestHttpServer server([](const std::string&) -> TestHttpServer::Response {
    return {200, "late", absl::Seconds(30)};
  });
  HttpFetchOptions options;
  options.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(IsError(HttpGet(server.Url("/slow"), options).status(), absl::StatusCode::kDeadlineExceeded,
                      {"timed out", server.Url("/slow")}));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(HttpGetTest, ConnectionRefusedIsUnavailable) {
  const int port = drover::testing::FreePort();  // nothing listens there
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  EXPECT_TRUE(IsError(HttpGet(url).status(), absl::StatusCode::kUnavailable, {"connect", url}));
}

// A real TLS server on loopback with a throwaway CA from
// tests/fixtures/make_tls_certs.sh.
class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = "/tmp/drover-tls-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    certs_ = new std::string(tmpl);
    absl::StatusOr<CommandOutput> out =
        RunCommand({std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/make_tls_certs.sh", *certs_},
                   {.timeout = absl::Seconds(60)});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->exit_code, 0) << out->output;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*certs_);
    delete certs_;
  }
  static std::string Cert(const std::string& name) { return *certs_ + "/" + name; }
  static TestHttpServer::Response Answer(const std::string& path) {
    if (path == "/ok") return {200, "payload over tls"};
    return {404, "nope\n"};
  }
  static std::string* certs_;
};
std::string* HttpsTest::certs_ = nullptr;

TEST_F(HttpsTest, PinnedCaIsTrusted) {
  TestHttpServer server(&Answer, {Cert("server.pem"), Cert("server.key")});
  ASSERT_TRUE(absl::StartsWith(server.Url("/ok"), "https://"));
  HttpFetchOptions options;
  options.ca_file = Cert("ca.pem");
  absl::StatusOr<HttpResponse> r = HttpGet(server.Url("/ok"), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "payload over tls");
  // Streaming and non-2xx statuses work the same over TLS.
  std::string got;
  absl::StatusOr<int> code = HttpGetStreaming(server.Url("/ok"), options, [&](absl::string_view chunk) {
    got.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(got, "payload over tls");
  r = HttpGet(server.Url("/missing"), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
}

TEST_F(HttpsTest, CertificateFromAnotherCaIsRefused) {
  TestHttpServer server(&Answer, {Cert("server.pem"), Cert("server.key")});
  HttpFetchOptions options;
  options.ca_file = Cert("other-ca.pem");
  const std::string url = server.Url("/ok");
  EXPECT_TRUE(IsError(HttpGet(url, options).status(), absl::StatusCode::kUnavailable,
                      {url, "TLS certificate of 127.0.0.1:", "refused", "pinned CA file " + Cert("other-ca.pem"),
                       "certificate problem"}));
  EXPECT_EQ(server.requests(), 0) << "a request went out over an untrusted connection";
}

TEST_F(HttpsTest, SystemStoreDoesNotTrustAPrivateCa) {
  TestHttpServer server(&Answer, {Cert("server.pem"), Cert("server.key")});
  const std::string url = server.Url("/ok");
  EXPECT_TRUE(IsError(HttpGet(url).status(), absl::StatusCode::kUnavailable,
                      {url, "refused", "the system CA store"}));
}

TEST_F(HttpsTest, CertificateForAnotherHostIsRefused) {
  // Signed by the pinned CA, but for tarballs.invalid, not 127.0.0.1.
  TestHttpServer server(&Answer, {Cert("other-host.pem"), Cert("other-host.key")});
  HttpFetchOptions options;
  options.ca_file = Cert("ca.pem");
  const std::string url = server.Url("/ok");
  EXPECT_TRUE(IsError(HttpGet(url, options).status(), absl::StatusCode::kUnavailable,
                      {url, "refused", "name host \"127.0.0.1\"", "127.0.0.1"}));
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpsTest, UnreadableCaFileIsNamed) {
  TestHttpServer server(&Answer, {Cert("server.pem"), Cert("server.key")});
  HttpFetchOptions options;
  options.ca_file = Cert("no-such-ca.pem");
  EXPECT_TRUE(IsError(HttpGet(server.Url("/ok"), options).status(), absl::StatusCode::kInvalidArgument,
                      {Cert("no-such-ca.pem")}));
}

}  // namespace
}  // namespace drover::updater
