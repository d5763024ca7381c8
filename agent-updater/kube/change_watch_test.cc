#include "agent-updater/kube/change_watch.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent-updater/kube/fake_kube_api.h"

namespace drover::updater::kube {
namespace {

constexpr char kCollection[] = "/apis/apps/v1/namespaces/teleport/deployments";
constexpr char kSelector[] = "fieldSelector=metadata.name%3dteleport-agent";

std::string Event(const std::string& type, int rv) {
  return absl::StrCat(R"({"type":")", type, R"(","object":{"kind":"Deployment","metadata":{"resourceVersion":")", rv,
                      R"("}}})");
}

std::string List(int rv) { return absl::StrCat(R"({"kind":"DeploymentList","metadata":{"resourceVersion":")", rv, R"("},"items":[]})"); }

// Blocks in a watch until the watcher stops, as a quiet stream does.
absl::Status Quiet(const std::function<bool()>& stop) {
  while (!stop()) absl::SleepFor(absl::Milliseconds(5));
  return absl::OkStatus();
}

TEST(ChangeWatcherTest, ResumesFromTheLastVersionAndListsAgainAfterGone) {
  FakeKubeApi api;
  std::atomic<int> lists{0};
  api.get = [&](const std::string& path) -> absl::StatusOr<std::string> {
    EXPECT_EQ(path, absl::StrCat(kCollection, "?", kSelector));
    return List(++lists == 1 ? 10 : 20);
  };
  std::atomic<int> watches{0};
  api.watch = [&](const std::string& path, const FakeKubeApi::EventSink& on_event,
                  const std::function<bool()>& stop) -> absl::Status {
    switch (++watches) {
      case 1:  // from the list's version; one change, then the server's timeout
        EXPECT_TRUE(absl::StrContains(path, "&resourceVersion=10&")) << path;
        on_event(Event("MODIFIED", 11));
        on_event(Event("BOOKMARK", 15));
        return absl::OkStatus();
      case 2:  // resumed from the bookmark, which has left the window
        EXPECT_TRUE(absl::StrContains(path, "&resourceVersion=15&")) << path;
        on_event(R"({"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}})");
        return absl::OkStatus();
      default:  // after the second list
        EXPECT_TRUE(absl::StrContains(path, "&resourceVersion=20&")) << path;
        return Quiet(stop);
    }
  };
  ChangeWatcher watcher(&api, absl::Minutes(5));
  watcher.Add({"Deployment teleport-agent", kCollection, kSelector});
  // The MODIFIED event, then the list after the 410 (what changed meanwhile
  // is not known).
  ASSERT_TRUE(watcher.WaitForChange(absl::Now() + absl::Seconds(20)));
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (watcher.relists() < 1 && absl::Now() < deadline) watcher.WaitForChange(absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(watcher.relists(), 1);
  while ((watches.load() < 3 || !watcher.AllWatching()) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(watcher.AllWatching());
  EXPECT_EQ(watches.load(), 3);
  EXPECT_EQ(lists.load(), 2);
  // The re-list's change may still be pending; after it, nothing more
  // happens on a quiet stream.
  watcher.WaitForChange(absl::Now());
  EXPECT_FALSE(watcher.WaitForChange(absl::Now() + absl::Milliseconds(100)));
  const absl::Time stop_started = absl::Now();
  watcher.Stop();
  EXPECT_LT(absl::Now() - stop_started, absl::Seconds(5));
  EXPECT_FALSE(watcher.AllWatching());
}

TEST(ChangeWatcherTest, AWatchRefusedIsNotWatchingUntilItWorks) {
  FakeKubeApi api;
  api.get = [&](const std::string&) -> absl::StatusOr<std::string> { return List(5); };
  std::atomic<int> refusals{0};
  api.watch_refused = [&](const std::string&) -> absl::Status {
    if (++refusals == 1) {
      return absl::PermissionDeniedError("deployments is forbidden: cannot watch resource \"deployments\"");
    }
    return absl::OkStatus();
  };
  std::atomic<int> watches{0};
  api.watch = [&](const std::string&, const FakeKubeApi::EventSink& on_event,
                  const std::function<bool()>& stop) -> absl::Status {
    ++watches;
    on_event(Event("MODIFIED", 6));
    return Quiet(stop);
  };
  ChangeWatcher watcher(&api, absl::Minutes(5));
  watcher.Add({"Deployment teleport-agent", kCollection, kSelector});
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (refusals.load() < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  // Refused: the caller polls meanwhile (never counted as watching); then
  // it works, after a 1 s backoff.
  EXPECT_FALSE(watcher.AllWatching());
  EXPECT_TRUE(watcher.WaitForChange(deadline));
  EXPECT_TRUE(watcher.AllWatching());
  EXPECT_EQ(watches.load(), 1);
  EXPECT_EQ(refusals.load(), 2);
}

TEST(ChangeWatcherTest, GoneRightAfterAListBacksOff) {
  FakeKubeApi api;
  std::atomic<int> lists{0};
  api.get = [&](const std::string&) -> absl::StatusOr<std::string> { return List(++lists); };
  api.watch = [&](const std::string&, const FakeKubeApi::EventSink& on_event,
                  const std::function<bool()>&) -> absl::Status {
    on_event(R"({"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}})");
    return absl::OkStatus();
  };
  const absl::Time start = absl::Now();
  ChangeWatcher watcher(&api, absl::Minutes(5));
  watcher.Add({"Deployment teleport-agent", kCollection, kSelector});
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (lists.load() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  // 1 s, then 2 s between lists: not a tight loop of lists and passes.
  EXPECT_EQ(lists.load(), 3);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(2900));
}

TEST(ChangeWatcherTest, AnEventThatIsNotJsonListsAgain) {
  FakeKubeApi api;
  std::atomic<int> lists{0};
  api.get = [&](const std::string&) -> absl::StatusOr<std::string> { return List(++lists * 10); };
  std::atomic<int> watches{0};
  api.watch = [&](const std::string& path, const FakeKubeApi::EventSink& on_event,
                  const std::function<bool()>& stop) -> absl::Status {
    if (++watches == 1) {
      EXPECT_FALSE(on_event("<html>proxy error</html>"));
      return absl::OkStatus();
    }
    EXPECT_TRUE(absl::StrContains(path, "&resourceVersion=20&")) << path;
    return Quiet(stop);
  };
  ChangeWatcher watcher(&api, absl::Minutes(5));
  watcher.Add({"Deployment teleport-agent", kCollection, kSelector});
  EXPECT_TRUE(watcher.WaitForChange(absl::Now() + absl::Seconds(20)));  // the second list
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (watcher.relists() < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(lists.load(), 2);
  EXPECT_EQ(watcher.relists(), 1);
}

}  // namespace
}  // namespace drover::updater::kube
