#include "agent-updater/daemon/watch_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace drover::updater {
namespace {

TEST(ParseWatchResponseTest, ReadsTheAnswersTheCoordinatorGives) {
  WatchParse p = ParseWatchResponse(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\n\r\ntag=0123456789abcdef\nNEXT");
  ASSERT_EQ(p.state, WatchParse::kDone) << p.error;
  EXPECT_EQ(p.response.status, 200);
  EXPECT_EQ(TagOfWatchBody(p.response.body), "0123456789abcdef");
  EXPECT_FALSE(p.response.close);
  EXPECT_EQ(p.response.consumed, std::string("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                             "Content-Length: 21\r\n\r\ntag=0123456789abcdef\n").size());

  p = ParseWatchResponse("HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\n\r\n");
  ASSERT_EQ(p.state, WatchParse::kDone) << p.error;
  EXPECT_EQ(p.response.status, 204);
  EXPECT_EQ(p.response.body, "");

  p = ParseWatchResponse("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nConnection: close\r\n"
                         "Content-Length: 4\r\n\r\nbusy");
  ASSERT_EQ(p.state, WatchParse::kDone) << p.error;
  EXPECT_EQ(p.response.retry_after, absl::Seconds(30));
  EXPECT_TRUE(p.response.close);
  EXPECT_EQ(p.response.body, "busy");

  p = ParseWatchResponse("HTTP/1.0 204 No Content\r\n\r\n");
  ASSERT_EQ(p.state, WatchParse::kDone);
  EXPECT_TRUE(p.response.close);
}

TEST(ParseWatchResponseTest, WaitsForTheWholeAnswer) {
  const std::string full = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ntag=ab\n";
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(ParseWatchResponse(full.substr(0, n)).state, WatchParse::kIncomplete) << n;
  }
  EXPECT_EQ(ParseWatchResponse(full).state, WatchParse::kDone);
}

TEST(ParseWatchResponseTest, RefusesWhatItDoesNotSpeakNamingIt) {
  struct Case {
    std::string in, error;
  };
  const std::vector<Case> cases = {
      {"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x answer: \"SSH-2.0-OpenSSH\""},
      {"HTTP/1.1 2x0 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1 999 What\r\n\r\n", "bad status line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length: \"-1\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "bad Content-Length: \"2\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n", "answer body of 99999 bytes"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding \"chunked\" is not supported"},
      {"HTTP/1.1 200 OK\r\n\r\nbody", "answer 200 without Content-Length"},
      {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line: \"no colon here\""},
      {"HTTP/1.1 200 OK\r\nX: " + std::string(kMaxWatchHeaderBytes, 'x'), "answer headers longer than"},
  };
  for (const Case& c : cases) {
    WatchParse p = ParseWatchResponse(c.in);
    EXPECT_EQ(p.state, WatchParse::kBad) << c.in;
    EXPECT_TRUE(absl::StrContains(p.error, c.error)) << p.error << " for " << c.in.substr(0, 80);
  }
}

TEST(WatchPathTest, EncodesEveryParameter) {
  EXPECT_EQ(UrlEncode("stable/cloud eu&x=1~._-"), "stable%2Fcloud%20eu%26x%3D1~._-");
  EXPECT_EQ(WatchPath("stable/cloud", "host 1", "", "ab12"),
            "/v1/watch?channel=stable%2Fcloud&host_id=host%201&group=&tag=ab12");
  EXPECT_EQ(WatchRequest("c:7602", "/v1/watch?x"),
            "GET /v1/watch?x HTTP/1.1\r\nHost: c:7602\r\nUser-Agent: drover-updater\r\nAccept: text/plain\r\n"
            "Connection: keep-alive\r\n\r\n");
}

// A listening socket on 127.0.0.1 that the test answers by hand.
class FakeEndpoint {
 public:
  FakeEndpoint() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(listener_, 8);
    socklen_t len = sizeof(a);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~FakeEndpoint() {
    if (conn_ >= 0) close(conn_);
    if (listener_ >= 0) close(listener_);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  void CloseListener() {
    close(listener_);
    listener_ = -1;
  }
  bool Accept() {
    pollfd p{listener_, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) return false;
    if (conn_ >= 0) close(conn_);
    conn_ = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    return conn_ >= 0;
  }
  // The complete requests read so far.
  std::vector<std::string> Requests() {
    char buf[4096];
    ssize_t n;
    while (conn_ >= 0 && (n = recv(conn_, buf, sizeof(buf), 0)) > 0) pending_.append(buf, static_cast<size_t>(n));
    for (size_t end; (end = pending_.find("\r\n\r\n")) != std::string::npos;) {
      requests_.push_back(pending_.substr(0, end));
      pending_.erase(0, end + 4);
    }
    return requests_;
  }
  void Send(const std::string& bytes) { ASSERT_EQ(send(conn_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size())); }
  void Drop() {
    close(conn_);
    conn_ = -1;
  }

 private:
  int listener_ = -1, conn_ = -1, port_ = 0;
  std::string pending_;
  std::vector<std::string> requests_;
};

class WatchClientTest : public ::testing::Test {
 protected:
  WatchClientTest() : client_([] { return 0.5; }, [this](const std::string& line) { log_.push_back(line); }) {}

  // Drives `client` (default client_) against `endpoint` (default
  // endpoint_) until `done` or the deadline; true when it announced a change
  // on the way.
  bool Drive(const std::function<bool()>& done, WatchClient* client = nullptr, FakeEndpoint* endpoint = nullptr) {
    if (client == nullptr) client = &client_;
    if (endpoint == nullptr) endpoint = &endpoint_;
    const absl::Time end = absl::Now() + absl::Seconds(10);
    bool changed = false;
    while (absl::Now() < end) {
      if (done()) return changed;
      pollfd p{client->fd(), client->events(), 0};
      poll(&p, client->fd() >= 0 ? 1 : 0, 5);
      endpoint->Accept();
      changed |= client->Step(absl::Now(), p.revents);
    }
    ADD_FAILURE() << "condition not reached; log: " << absl::StrJoin(log_, " | ");
    return changed;
  }

  FakeEndpoint endpoint_;
  std::vector<std::string> log_;
  WatchClient client_;
};

TEST_F(WatchClientTest, HoldsPollsAndAnnouncesOnlyAnotherTag) {
  client_.Watch(endpoint_.address(), "/v1/watch?tag=aa", "aa", absl::Now());
  EXPECT_FALSE(Drive([&] { return endpoint_.Requests().size() == 1; }));
  EXPECT_TRUE(absl::StartsWith(endpoint_.Requests()[0], "GET /v1/watch?tag=aa HTTP/1.1\r\nHost: " + endpoint_.address()));
  EXPECT_TRUE(client_.connected());
  // Held with no change: polled again on the same connection -- after a
  // pause, as this answer came back in well under kMinHeldPoll.
  endpoint_.Send("HTTP/1.1 204 No Content\r\n\r\n");
  const absl::Time answered = absl::Now();
  EXPECT_FALSE(Drive([&] { return endpoint_.Requests().size() == 2; }));
  EXPECT_GE(absl::Now() - answered, kMinHeldPoll - absl::Milliseconds(50));
  // The daemon acted on a newer answer meanwhile: the next poll names it,
  // and an answer naming that same tag is no change.
  client_.Watch(endpoint_.address(), "/v1/watch?tag=bb", "bb", absl::Now());
  endpoint_.Send("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ntag=bb\n");
  EXPECT_FALSE(Drive([&] { return endpoint_.Requests().size() == 3; }));
  EXPECT_TRUE(absl::StartsWith(endpoint_.Requests()[2], "GET /v1/watch?tag=bb "));
  // Another tag: announced, and nothing is polled until the next Watch.
  endpoint_.Send("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ntag=cc\n");
  EXPECT_TRUE(Drive([&] { return client_.changes() == 1; }));
  EXPECT_EQ(client_.announced_tag(), "cc");
  EXPECT_GE(client_.fd(), 0);
  EXPECT_EQ(client_.Deadline(), absl::InfiniteFuture());
  client_.Watch(endpoint_.address(), "/v1/watch?tag=cc", "cc", absl::Now());
  EXPECT_FALSE(Drive([&] { return endpoint_.Requests().size() == 4; }));
  EXPECT_EQ(client_.changes(), 1);
}

// A pass that came back with another tag than the one announced (a refused
// or expired answer): the next poll names the announced tag, so the
// coordinator holds it; an answer naming what the pass acted on is no change
// either, and then the polls name that.
TEST_F(WatchClientTest, APassThatActedOnAnotherAnswerDoesNotLoop) {
  EXPECT_EQ(TagAfterPass("old", /*pushed=*/true, "new"), "new");
  EXPECT_EQ(TagAfterPass("new", true, "new"), "new");
  EXPECT_EQ(TagAfterPass("old", /*pushed=*/false, "new"), "old");
  EXPECT_EQ(TagAfterPass("", true, "new"), "new");
  EXPECT_EQ(WithTag("/v1/watch?channel=a&host_id=h&group=&tag=old", "new"),
            "/v1/watch?channel=a&host_id=h&group=&tag=new");
  EXPECT_EQ(WithTag("/v1/watch?channel=a&tag=old&host_id=h", "n w"), "/v1/watch?channel=a&tag=n%20w&host_id=h");

  client_.Watch(endpoint_.address(), "/v1/watch?h=1&tag=new", "new", absl::Now(), /*acted_on=*/"old");
  Drive([&] { return endpoint_.Requests().size() == 1; });
  EXPECT_TRUE(absl::StartsWith(endpoint_.Requests()[0], "GET /v1/watch?h=1&tag=new "));
  endpoint_.Send("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ntag=old\n");
  EXPECT_FALSE(Drive([&] { return endpoint_.Requests().size() == 2; }));
  EXPECT_TRUE(absl::StartsWith(endpoint_.Requests()[1], "GET /v1/watch?h=1&tag=old ")) << endpoint_.Requests()[1];
  EXPECT_EQ(client_.changes(), 0);
  endpoint_.Send("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ntag=nxt\n");
  EXPECT_TRUE(Drive([&] { return client_.changes() == 1; }));
}

TEST_F(WatchClientTest, AConnectionDroppedWhileAPassRanIsReplacedQuietly) {
  client_.Watch(endpoint_.address(), "/v1/watch?tag=aa", "aa", absl::Now());
  Drive([&] { return endpoint_.Requests().size() == 1; });
  endpoint_.Send("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ntag=bb\n");
  EXPECT_TRUE(Drive([&] { return client_.changes() == 1; }));
  // The pass runs (nobody reads the socket), and the coordinator drops the
  // idle connection meanwhile.
  endpoint_.Drop();
  const size_t logged = log_.size();
  client_.Watch(endpoint_.address(), "/v1/watch?tag=bb", "bb", absl::Now());
  EXPECT_FALSE(Drive([&] { return endpoint_.Requests().size() == 2; }));
  EXPECT_TRUE(absl::StartsWith(endpoint_.Requests()[1], "GET /v1/watch?tag=bb "));
  EXPECT_EQ(log_.size(), logged) << absl::StrJoin(log_, " | ");
}

TEST_F(WatchClientTest, MoreThanOneAnswerToOnePollIsAProtocolError) {
  client_.Watch(endpoint_.address(), "/v1/watch?tag=aa", "aa", absl::Now());
  Drive([&] { return endpoint_.Requests().size() == 1; });
  endpoint_.Send("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
  Drive([&] { return !client_.connected(); });
  EXPECT_TRUE(absl::StrContains(log_.back(), "more than one answer to one poll")) << log_.back();
  EXPECT_EQ(endpoint_.Requests().size(), 1u);
}

TEST_F(WatchClientTest, EveryResolvedAddressIsTried) {
  // A name with two addresses, the first refusing (as "localhost" naming ::1
  // first while the coordinator listens on 127.0.0.1).
  FakeEndpoint closed;
  closed.CloseListener();
  auto address = [](const std::string& host_port) {
    WatchAddress a;
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(host_port.rfind(':') + 1))));
    std::memcpy(&a.addr, &in, sizeof(in));
    a.len = sizeof(in);
    a.family = AF_INET;
    return a;
  };
  std::string asked;
  WatchClient client([] { return 0.5; }, [this](const std::string& line) { log_.push_back(line); },
                     [&](const std::string& host, const std::string& port, std::string*) {
                       asked = host + ":" + port;
                       return std::vector<WatchAddress>{address(closed.address()), address(endpoint_.address())};
                     });
  client.Watch("coordinator.example:7602", "/v1/watch?tag=aa", "aa", absl::Now());
  Drive([&] { return !endpoint_.Requests().empty(); }, &client);
  EXPECT_EQ(asked, "coordinator.example:7602");
  ASSERT_EQ(endpoint_.Requests().size(), 1u) << absl::StrJoin(log_, " | ");
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(log_.size(), 1u) << absl::StrJoin(log_, " | ");  // "connected", no failure
  // A name that resolves to nothing is named.
  WatchClient nowhere([] { return 0.5; }, [this](const std::string& line) { log_.push_back(line); },
                      [](const std::string& host, const std::string&, std::string* error) {
                        *error = "cannot resolve \"" + host + "\": Name or service not known";
                        return std::vector<WatchAddress>{};
                      });
  nowhere.Watch("nowhere.example:7602", "/", "", absl::Now());
  EXPECT_TRUE(absl::StrContains(log_.back(), "cannot resolve \"nowhere.example\"")) << log_.back();
  EXPECT_FALSE(nowhere.connected());
}

TEST_F(WatchClientTest, ALostConnectionIsRetriedWithBackoffAndLoggedOnce) {
  client_.Watch(endpoint_.address(), "/v1/watch?tag=aa", "aa", absl::Now());
  Drive([&] { return endpoint_.Requests().size() == 1; });
  endpoint_.Drop();
  Drive([&] { return !client_.connected(); });
  ASSERT_EQ(log_.size(), 2u) << absl::StrJoin(log_, " | ");
  EXPECT_TRUE(absl::StrContains(log_[1], "closed the connection; polling meanwhile, trying again in")) << log_[1];
  // Backoff: 1 s * 0.5 for the first retry; then it connects and polls again.
  EXPECT_LE(client_.Deadline(), absl::Now() + absl::Milliseconds(600));
  Drive([&] { return client_.connected() && endpoint_.Requests().size() >= 2; });
  EXPECT_TRUE(client_.connected());
  EXPECT_EQ(endpoint_.Requests().size(), 2u);
}

TEST_F(WatchClientTest, BusyAndRefusedAnswersWaitBeforeTheNextTry) {
  client_.Watch(endpoint_.address(), "/v1/watch?tag=aa", "aa", absl::Now());
  Drive([&] { return endpoint_.Requests().size() == 1; });
  endpoint_.Send("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 4\r\n\r\nbusy");
  Drive([&] { return !client_.connected(); });
  EXPECT_GE(client_.Deadline(), absl::Now() + absl::Seconds(29));
  EXPECT_TRUE(absl::StrContains(log_.back(), "answered 503 (busy)")) << log_.back();
  EXPECT_EQ(client_.changes(), 0);

  WatchClient other([] { return 0.0; }, [&](const std::string& l) { log_.push_back(l); });
  FakeEndpoint e2;
  other.Watch(e2.address(), "/v1/watch?channel=nope", "", absl::Now());
  Drive([&] { return !e2.Requests().empty(); }, &other, &e2);
  e2.Send("HTTP/1.1 404 Not Found\r\nContent-Length: 24\r\n\r\nunknown channel \"nope\"\n\n");
  Drive([&] { return !other.connected(); }, &other, &e2);
  EXPECT_FALSE(other.connected());
  EXPECT_GE(other.Deadline(), absl::Now() + kWatchRefusedRetry - absl::Seconds(5));
  EXPECT_TRUE(absl::StrContains(log_.back(), "refused the poll with 404 (unknown channel \"nope\")")) << log_.back();
}

TEST_F(WatchClientTest, GarbageIsAProtocolErrorNotAChange) {
  client_.Watch(endpoint_.address(), "/v1/watch?tag=aa", "aa", absl::Now());
  Drive([&] { return endpoint_.Requests().size() == 1; });
  endpoint_.Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\ntag=cc\n\r\n0\r\n\r\n");
  EXPECT_FALSE(Drive([&] { return !client_.connected(); }));
  EXPECT_TRUE(absl::StrContains(log_.back(), "unreadable answer (Transfer-Encoding")) << log_.back();
  EXPECT_EQ(client_.changes(), 0);
}

TEST_F(WatchClientTest, NobodyListeningFallsBackAndStopStopsEverything) {
  endpoint_.CloseListener();
  client_.Watch(endpoint_.address(), "/v1/watch?tag=aa", "aa", absl::Now());
  Drive([&] { return !log_.empty(); });
  EXPECT_TRUE(absl::StrContains(log_[0], "connect: Connection refused; polling meanwhile")) << log_[0];
  EXPECT_FALSE(client_.connected());
  EXPECT_LT(client_.Deadline(), absl::InfiniteFuture());
  client_.Watch("", "", "", absl::Now());
  EXPECT_EQ(client_.fd(), -1);
  EXPECT_EQ(client_.Deadline(), absl::InfiniteFuture());
  client_.Watch("not-an-address", "/", "", absl::Now());
  EXPECT_TRUE(absl::StrContains(log_.back(), "\"not-an-address\" is not host:port")) << log_.back();
}

}  // namespace
}  // namespace drover::updater
