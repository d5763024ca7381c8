// The watch endpoint (coordinator/watch/) on a real coordinator and
// PostgreSQL: bad requests, holds, pushes of changes made through this
// replica and through another one (LISTEN/NOTIFY), the connection cap.
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent-updater/target/answer_tag_of.h"
#include "coordinator/server.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::NewTestDatabase;

struct Answer {
  long code = 0;  // 0: no HTTP answer (connection failed, or timed out)
  std::string body;
  std::string retry_after;
  absl::Duration took;
};

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
size_t Header(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  if (absl::ConsumePrefix(&line, "Retry-After:")) *static_cast<std::string*>(out) = std::string(absl::StripAsciiWhitespace(line));
  return size * n;
}

Answer Get(const std::string& address, const std::string& path_and_query, absl::Duration timeout = absl::Seconds(10)) {
  Answer a;
  CURL* curl = curl_easy_init();
  const std::string url = absl::StrCat("http://", address, path_and_query);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a.retry_after);
  const absl::Time start = absl::Now();
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.code);
  a.took = absl::Now() - start;
  curl_easy_cleanup(curl);
  return a;
}

std::string Watch(const std::string& channel, const std::string& host, const std::string& tag) {
  return absl::StrCat("/v1/watch?channel=", channel, "&host_id=", host, "&group=web&tag=", tag);
}

std::string TagOf(const Answer& a) {
  absl::string_view body = absl::StripAsciiWhitespace(a.body);
  return absl::ConsumePrefix(&body, "tag=") ? std::string(body) : "";
}

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = NewTestDatabase(); }

  CoordinatorConfig Config() const {
    CoordinatorConfig config;
    config.database_url = db_;
    config.insecure = true;
    config.grpc_listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.watch_listen = "127.0.0.1:0";
    config.shutdown_grace = absl::Seconds(5);
    config.fleet_refresh_interval = absl::Milliseconds(100);  // the watch gauges
    return config;
  }

  std::unique_ptr<CoordinatorServer> Start(const std::function<void(CoordinatorConfig&)>& tune = nullptr) {
    CoordinatorConfig config = Config();
    if (tune) tune(config);
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(config);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  static std::unique_ptr<v1::OperatorService::Stub> Operator(const CoordinatorServer& s) {
    return v1::OperatorService::NewStub(grpc::CreateChannel(s.grpc_address(), grpc::InsecureChannelCredentials()));
  }
  static grpc::Status CreateChannel(v1::OperatorService::Stub* ops, const std::string& id) {
    v1::CreateChannelRequest req;
    req.set_channel_id(id);
    req.set_control_plane_version("1.9.0");
    req.set_target_version("1.0.0");
    v1::Channel out;
    grpc::ClientContext ctx;
    return ops->CreateChannel(&ctx, req, &out);
  }
  static grpc::Status SetTarget(v1::OperatorService::Stub* ops, const std::string& id, const std::string& v) {
    v1::SetTargetVersionRequest req;
    req.set_name("channels/" + id);
    req.set_version(v);
    v1::Channel out;
    grpc::ClientContext ctx;
    return ops->SetTargetVersion(&ctx, req, &out);
  }

  std::string db_;
};

TEST_F(WatchTest, BadRequestsNameWhatIsWrong) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  const std::string w = server->watch_address();
  ASSERT_FALSE(w.empty());
  auto ops = Operator(*server);
  ASSERT_TRUE(CreateChannel(ops.get(), "web/eu").ok());

  Answer a = Get(w, "/v1/watch?channel=web%2Feu&tag=");
  EXPECT_EQ(a.code, 400);
  EXPECT_TRUE(absl::StrContains(a.body, "host_id is required")) << a.body;
  a = Get(w, Watch("Web!", "h1", ""));
  EXPECT_EQ(a.code, 400);
  EXPECT_TRUE(absl::StrContains(a.body, "channel")) << a.body;
  a = Get(w, Watch("web%2Feu", "h1", "xyz"));
  EXPECT_EQ(a.code, 400);
  EXPECT_TRUE(absl::StrContains(a.body, "tag \"xyz\"")) << a.body;
  a = Get(w, "/v1/watch?channel=web%2Feu&host_id=h%201&tag=");
  EXPECT_EQ(a.code, 400);
  EXPECT_TRUE(absl::StrContains(a.body, "host_id")) << a.body;
  a = Get(w, Watch("nosuch", "h1", ""));
  EXPECT_EQ(a.code, 404);
  EXPECT_TRUE(absl::StrContains(a.body, "nosuch")) << a.body;
  a = Get(w, "/metrics");
  EXPECT_EQ(a.code, 404);
}

TEST_F(WatchTest, ATargetChangeAnswersAHeldPollAtOnce) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  const std::string w = server->watch_address();
  auto ops = Operator(*server);
  ASSERT_TRUE(CreateChannel(ops.get(), "web/eu").ok());

  // An empty tag: the current one, at once; "channels/" names work too.
  Answer first = Get(w, Watch("channels%2Fweb%2Feu", "h1", ""));
  ASSERT_EQ(first.code, 200) << first.body;
  const std::string tag = TagOf(first);
  ASSERT_EQ(tag.size(), 16u) << first.body;
  // A stale tag: the current one, at once.
  Answer stale = Get(w, Watch("web%2Feu", "h1", "0123456789abcdef"));
  EXPECT_EQ(stale.code, 200);
  EXPECT_EQ(TagOf(stale), tag);

  std::future<Answer> held = std::async(std::launch::async, [&] { return Get(w, Watch("web%2Feu", "h1", tag)); });
  // The poll is held (no answer while nothing changes) ...
  EXPECT_EQ(held.wait_for(std::chrono::milliseconds(1500)), std::future_status::timeout);
  // ... until the target changes.
  const absl::Time changed = absl::Now();
  ASSERT_TRUE(SetTarget(ops.get(), "web/eu", "1.1.0").ok());
  ASSERT_EQ(held.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const absl::Duration latency = absl::Now() - changed;
  Answer pushed = held.get();
  EXPECT_EQ(pushed.code, 200);
  EXPECT_NE(TagOf(pushed), tag);
  EXPECT_LT(latency, absl::Seconds(2));
}

TEST_F(WatchTest, AHoldEndsWith204) {
  auto server = Start([](CoordinatorConfig& c) { c.watch_hold = absl::Seconds(1); });
  ASSERT_NE(server, nullptr);
  auto ops = Operator(*server);
  ASSERT_TRUE(CreateChannel(ops.get(), "web").ok());
  const std::string tag = TagOf(Get(server->watch_address(), Watch("web", "h1", "")));
  Answer a = Get(server->watch_address(), Watch("web", "h1", tag));
  EXPECT_EQ(a.code, 204);
  EXPECT_TRUE(a.body.empty());
  EXPECT_GE(a.took, absl::Milliseconds(850));
  EXPECT_LT(a.took, absl::Seconds(3));
}

TEST_F(WatchTest, AHoldLongerThanUpdatersWaitIsRefusedAtStart) {
  CoordinatorConfig config = Config();
  config.watch_hold = absl::Minutes(6);
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(config);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "--watch_hold=6m is out of range: want 1s to 5m"))
      << s.status();
  config.watch_hold = absl::Milliseconds(10);
  s = CoordinatorServer::Start(config);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "--watch_hold=10ms is out of range")) << s.status();
}

TEST_F(WatchTest, OverTheCapIsRefusedWithRetryAfter) {
  auto server = Start([](CoordinatorConfig& c) { c.watch_max_connections = 1; });
  ASSERT_NE(server, nullptr);
  auto ops = Operator(*server);
  ASSERT_TRUE(CreateChannel(ops.get(), "web").ok());
  const std::string w = server->watch_address();
  const std::string tag = TagOf(Get(w, Watch("web", "h1", "")));
  std::future<Answer> held = std::async(std::launch::async, [&] { return Get(w, Watch("web", "h1", tag)); });
  ASSERT_TRUE(testing::PollUntil(absl::Seconds(10), [&] {
    absl::StatusOr<std::string> m = testing::HttpGet(server->metrics_address(), "/metrics");
    return m.ok() && testing::MetricValue(*m, "drover_watch_waiting") == 1;
  }));
  const Answer refused = Get(w, Watch("web", "h2", tag), absl::Seconds(3));
  EXPECT_EQ(refused.code, 503) << refused.body;
  EXPECT_EQ(refused.retry_after, "30");
  EXPECT_TRUE(absl::StrContains(refused.body, "--watch_max_connections")) << refused.body;
  // A host whose tag is out of date needs no slot: answered at once.
  const Answer h3 = Get(w, Watch("web", "h3", ""));
  EXPECT_EQ(h3.code, 200) << h3.body;
  ASSERT_TRUE(SetTarget(ops.get(), "web", "1.1.0").ok());
  EXPECT_EQ(held.get().code, 200);
}

// The updater computes the same tag from the GetTarget answer it acted on,
// so its next watch poll is held (no pass for nothing) until the answer
// really changes: with windows, critical and a per-host rollout answer.
TEST_F(WatchTest, TheUpdaterComputesTheSameTagFromItsAnswer) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  auto ops = Operator(*server);
  ASSERT_TRUE(CreateChannel(ops.get(), "web/eu").ok());
  {
    v1::SetMaintenanceWindowsRequest req;
    req.set_name("channels/web/eu");
    v1::MaintenanceWindow* w = req.add_maintenance_windows();
    w->add_weekdays(v1::WEEKDAY_TUESDAY);
    w->set_utc_start_hour(3);
    w->mutable_duration()->set_seconds(7200);
    v1::Channel out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops->SetMaintenanceWindows(&ctx, req, &out).ok());
  }
  {
    v1::SetCriticalRequest req;
    req.set_name("channels/web/eu");
    req.set_critical(true);
    req.set_reason("CVE");
    v1::Channel out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops->SetCritical(&ctx, req, &out).ok());
  }
  auto updater =
      v1::UpdaterService::NewStub(grpc::CreateChannel(server->grpc_address(), grpc::InsecureChannelCredentials()));
  v1::GetTargetRequest req;
  req.set_channel("channels/web/eu");
  req.set_host_id("h1");
  req.set_group("web");
  v1::GetTargetResponse answer;
  grpc::ClientContext ctx;
  ASSERT_TRUE(updater->GetTarget(&ctx, req, &answer).ok());
  ASSERT_TRUE(answer.critical());
  ASSERT_EQ(answer.maintenance_windows_size(), 1);
  const std::string mine = updater::AnswerTagOf(answer);
  Answer watched = Get(server->watch_address(), Watch("web%2Feu", "h1", ""));
  ASSERT_EQ(watched.code, 200);
  EXPECT_EQ(TagOf(watched), mine);
  // Held with it: nothing changed.
  Answer held = Get(server->watch_address(), Watch("web%2Feu", "h1", mine), absl::Milliseconds(1200));
  EXPECT_EQ(held.code, 0) << "held, not answered: " << held.body;
}

// A change made through another replica reaches this one's watchers by
// NOTIFY: this replica's caches are kept for a minute, so neither its
// re-check nor its cache expiry could have seen it within 2 s.
TEST_F(WatchTest, AChangeThroughAnotherReplicaIsPushedByNotify) {
  auto watcher = Start([](CoordinatorConfig& c) { c.channel_cache_ttl = absl::Seconds(60); });
  auto other = Start([](CoordinatorConfig& c) { c.watch_listen = ""; });
  ASSERT_NE(watcher, nullptr);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->watch_address(), "");
  auto ops = Operator(*other);
  ASSERT_TRUE(CreateChannel(ops.get(), "web").ok());
  const std::string w = watcher->watch_address();
  Answer first;
  // The channel was made elsewhere; this replica's cache may lag it until NOTIFY lands.
  ASSERT_TRUE(testing::PollUntil(absl::Seconds(5), [&] {
    first = Get(w, Watch("web", "h1", ""));
    return first.code == 200;
  })) << first.code << " " << first.body;
  const std::string tag = TagOf(first);
  std::future<Answer> held = std::async(std::launch::async, [&] { return Get(w, Watch("web", "h1", tag)); });
  EXPECT_EQ(held.wait_for(std::chrono::milliseconds(1500)), std::future_status::timeout);
  const absl::Time changed = absl::Now();
  ASSERT_TRUE(SetTarget(ops.get(), "web", "1.2.0").ok());
  ASSERT_EQ(held.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(absl::Now() - changed, absl::Seconds(2));
  Answer pushed = held.get();
  EXPECT_EQ(pushed.code, 200);
  EXPECT_NE(TagOf(pushed), tag);
}

// An updater that hangs up while held frees its slot at once, not after
// the hold (55 s here).
TEST_F(WatchTest, AHangUpFreesTheSlot) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  auto ops = Operator(*server);
  ASSERT_TRUE(CreateChannel(ops.get(), "web").ok());
  const std::string w = server->watch_address();
  const std::string tag = TagOf(Get(w, Watch("web", "h1", "")));
  auto waiting = [&] {
    absl::StatusOr<std::string> m = testing::HttpGet(server->metrics_address(), "/metrics");
    return m.ok() ? testing::MetricValue(*m, "drover_watch_waiting") : -1;
  };
  std::future<Answer> held =
      std::async(std::launch::async, [&] { return Get(w, Watch("web", "h1", tag), absl::Seconds(2)); });
  ASSERT_TRUE(testing::PollUntil(absl::Seconds(10), [&] { return waiting() == 1; }));
  EXPECT_EQ(held.get().code, 0) << "the client gave up";
  ASSERT_TRUE(testing::PollUntil(absl::Seconds(10), [&] { return waiting() == 0; }));
  absl::StatusOr<std::string> m = testing::HttpGet(server->metrics_address(), "/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(testing::MetricValue(*m, "drover_watch_answers_total{answer=\"closed\"}"), 1);
}

// Watchers see the replica go: their connections close, not hang.
TEST_F(WatchTest, ShutdownClosesHeldPolls) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  auto ops = Operator(*server);
  ASSERT_TRUE(CreateChannel(ops.get(), "web").ok());
  const std::string w = server->watch_address();
  const std::string tag = TagOf(Get(w, Watch("web", "h1", "")));
  std::future<Answer> held = std::async(std::launch::async, [&] { return Get(w, Watch("web", "h1", tag), absl::Seconds(20)); });
  EXPECT_EQ(held.wait_for(std::chrono::milliseconds(1000)), std::future_status::timeout);
  server->Shutdown();
  ASSERT_EQ(held.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(held.get().code, 0) << "closed without an answer";
}

}  // namespace
}  // namespace drover
