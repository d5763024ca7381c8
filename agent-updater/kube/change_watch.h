// Watches of the Kubernetes objects a pass depends on (the agent's
// workload, its pods, its schedule Secret), so that a change runs a pass at
// once instead of at the next poll. Each watch lists once for a
// resourceVersion, then streams from it and resumes from the last version
// it saw; a "410 Gone" (that version left the API server's window) lists
// again. While a watch cannot stream (RBAC without "watch", an API server
// down), AllWatching() is false and the caller polls.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "agent-updater/kube/kube_api.h"

namespace drover::updater::kube {

struct WatchSpec {
  std::string what;        // for logs: "Deployment teleport-agent"
  std::string collection;  // "/apis/apps/v1/namespaces/NS/deployments"
  std::string selector;    // a query: "fieldSelector=metadata.name%3DNAME" or "labelSelector=..."
};

class ChangeWatcher {
 public:
  // `server_timeout`: the timeoutSeconds each watch request asks for; the
  // stream is opened again when the server ends it.
  ChangeWatcher(KubeApi* api, absl::Duration server_timeout);
  ~ChangeWatcher();
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // Starts watching (a thread per spec).
  void Add(WatchSpec spec);
  // Until a change seen since the last call that returned true, or
  // `deadline`. True on a change.
  bool WaitForChange(absl::Time deadline);
  // Every watch added is streaming.
  bool AllWatching() const;
  // Leaves the streams (within about a second) and joins the threads.
  void Stop();

  // Lists made after a watch's first (after a 410 or an error).
  int64_t relists() const { return relists_.load(); }

 private:
  void Run(size_t index, WatchSpec spec);
  void Signal();
  void SetWatching(size_t index, bool watching);
  // Sleeps up to `d`; false when stopped meanwhile.
  bool Pause(absl::Duration d);

  KubeApi* const api_;
  const absl::Duration server_timeout_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> relists_{0};
  // std::mutex, not absl::Mutex: Debian's abseil is not built for TSan,
  // which would not see absl::Mutex order anything (tests/tsan.supp).
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool changed_ = false;        // guarded by mu_
  std::vector<bool> watching_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace drover::updater::kube
