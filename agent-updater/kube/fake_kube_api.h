// A KubeApi whose answers a unit test scripts: the Kubernetes API server
// cannot run here. Each call is recorded ("GET path", "PATCH path body",
// "DELETE path", "WATCH path").
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "agent-updater/kube/kube_api.h"

namespace drover::updater::kube {

class FakeKubeApi final : public KubeApi {
 public:
  using EventSink = std::function<bool(const std::string&)>;
  std::function<absl::StatusOr<std::string>(const std::string& path)> get;
  std::function<absl::StatusOr<std::string>(const std::string& path, const std::string& patch)> patch;
  std::function<absl::Status(const std::string& path, const std::string& body)> del;
  // on_open is called before `watch` (a 200), unless `watch_refused` says
  // why the server refused the watch instead.
  std::function<absl::Status(const std::string& path)> watch_refused;
  std::function<absl::Status(const std::string& path, const EventSink& on_event, const std::function<bool()>& stop)>
      watch;

  absl::StatusOr<std::string> Get(const std::string& path) override {
    Record("GET " + path);
    return get ? get(path) : absl::NotFoundError(path);
  }
  absl::StatusOr<std::string> JsonPatch(const std::string& path, const std::string& body) override {
    Record("PATCH " + path + " " + body);
    return patch ? patch(path, body) : absl::NotFoundError(path);
  }
  absl::Status Delete(const std::string& path, const std::string& body) override {
    Record("DELETE " + path + " " + body);
    return del ? del(path, body) : absl::OkStatus();
  }
  absl::Status Watch(const std::string& path, const std::function<void()>& on_open, const EventSink& on_event,
                     const std::function<bool()>& stop) override {
    Record("WATCH " + path);
    if (watch_refused) {
      if (absl::Status s = watch_refused(path); !s.ok()) return s;
    }
    if (!watch) return absl::UnavailableError("no watch");
    on_open();
    return watch(path, on_event, stop);
  }

  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }

 private:
  void Record(std::string call) {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back(std::move(call));
  }
  mutable std::mutex mu_;  // not absl::Mutex: TSan sees only this one
  std::vector<std::string> calls_;
};

}  // namespace drover::updater::kube
