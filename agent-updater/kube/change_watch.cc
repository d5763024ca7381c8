#include "agent-updater/kube/change_watch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent-updater/kube/workload.h"
#include "common/log.h"

namespace drover::updater::kube {

ChangeWatcher::ChangeWatcher(KubeApi* api, absl::Duration server_timeout)
    : api_(api), server_timeout_(server_timeout) {}

ChangeWatcher::~ChangeWatcher() { Stop(); }

void ChangeWatcher::Add(WatchSpec spec) {
  size_t index;
  {
    std::lock_guard<std::mutex> l(mu_);
    index = watching_.size();
    watching_.push_back(false);
  }
  threads_.emplace_back([this, index, spec = std::move(spec)] { Run(index, spec); });
}

void ChangeWatcher::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();  // wakes Pause
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool ChangeWatcher::WaitForChange(absl::Time deadline) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_until(l, absl::ToChronoTime(deadline), [this] { return changed_; });
  const bool changed = changed_;
  changed_ = false;
  return changed;
}

bool ChangeWatcher::AllWatching() const {
  std::lock_guard<std::mutex> l(mu_);
  return std::all_of(watching_.begin(), watching_.end(), [](bool b) { return b; });
}

void ChangeWatcher::Signal() {
  {
    std::lock_guard<std::mutex> l(mu_);
    changed_ = true;
  }
  cv_.notify_all();
}

void ChangeWatcher::SetWatching(size_t index, bool watching) {
  std::lock_guard<std::mutex> l(mu_);
  watching_[index] = watching;
}

bool ChangeWatcher::Pause(absl::Duration d) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, absl::ToChronoNanoseconds(d), [this] { return stop_.load(); });
  return !stop_;
}

void ChangeWatcher::Run(size_t index, WatchSpec spec) {
  const absl::Duration kFirstBackoff = absl::Seconds(1);
  const absl::Duration kMaxBackoff = absl::Seconds(30);
  absl::Duration backoff = kFirstBackoff;
  std::string version;  // where the next watch starts; empty: list first
  bool listed = false;
  bool failing = false;  // said once per streak of failures
  auto failed = [&](const std::string& why) {
    SetWatching(index, false);
    if (!failing) {
      LogWarning(absl::StrCat("cannot watch ", spec.what, " (", why,
                              "); checking it every --kube_poll_interval until the watch works"));
    }
    failing = true;
    Pause(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  };
  while (!stop_) {
    bool fresh_list = false;  // this watch starts from a list just made
    if (version.empty()) {
      fresh_list = true;
      absl::StatusOr<std::string> list = api_->Get(absl::StrCat(spec.collection, "?", spec.selector));
      absl::StatusOr<std::string> listed_version =
          list.ok() ? ListResourceVersion(*list) : absl::StatusOr<std::string>(list.status());
      if (!listed_version.ok()) {
        failed(std::string(listed_version.status().message()));
        continue;
      }
      version = *listed_version;
      // Whatever changed while it was not watching is not known: a pass
      // will tell.
      if (listed) {
        Signal();
        ++relists_;
      }
      listed = true;
    }
    const std::string path =
        absl::StrCat(spec.collection, "?", spec.selector, "&watch=1&allowWatchBookmarks=true&resourceVersion=",
                     QueryEscape(version), "&timeoutSeconds=", absl::ToInt64Seconds(server_timeout_));
    bool gone = false;
    bool events = false;
    std::string bad_event;
    const absl::Time opened = absl::Now();
    absl::Status s = api_->Watch(
        path, [&] { SetWatching(index, true); },
        [&](const std::string& line) {
          absl::StatusOr<WatchEvent> e = ParseWatchEvent(line);
          if (!e.ok()) {
            bad_event = std::string(e.status().message());
            return false;
          }
          if (e->type == "ERROR") {
            if (e->code == 410) {
              gone = true;
            } else {
              bad_event = absl::StrCat("the watch answered an error ", e->code, ": ", e->message);
            }
            return false;
          }
          events = true;
          if (!e->resource_version.empty()) version = e->resource_version;
          if (e->type != "BOOKMARK") Signal();
          if (failing) LogInfo(absl::StrCat("watching ", spec.what, " again"));
          failing = false;
          backoff = kFirstBackoff;
          return true;
        },
        [this] { return stop_.load(); });
    if (stop_) break;
    if (gone || absl::IsOutOfRange(s)) {
      // Its version left the API server's window (410 Gone): list again;
      // not in a tight loop when even a fresh list's version is refused.
      LogInfo(absl::StrCat("the watch of ", spec.what, " is too old (410 Gone): listing it again"));
      version.clear();
      if (!events && fresh_list) {
        Pause(backoff);
        backoff = std::min(backoff * 2, kMaxBackoff);
      }
      continue;
    }
    if (!bad_event.empty()) {
      version.clear();
      failed(bad_event);
      continue;
    }
    if (!s.ok()) {
      failed(std::string(s.message()));
      continue;
    }
    // The server ended the stream (its timeoutSeconds): resume, not in a
    // tight loop when it ends them at once.
    if (absl::Now() - opened < absl::Seconds(1)) Pause(kFirstBackoff);
  }
  SetWatching(index, false);
}

}  // namespace drover::updater::kube
