// The agent's "installation" on Kubernetes: the image of one container of
// its Deployment or StatefulSet. Installing a version resolves its tag,
// verifies the image's signature, and only then patches the workload to the
// verified digest; the rollout the patch starts is watched by
// RolloutHealthCheck (the host updater's health watch).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent-updater/health/health_check.h"
#include "agent-updater/install/installer.h"
#include "agent-updater/kube/kube_api.h"
#include "agent-updater/kube/workload.h"

namespace drover::updater::kube {

// Given a tagged image, its verified pinned form (repo:tag@sha256:...), or
// why it was refused: PermissionDenied for a signature that does not
// verify, NotFound for a missing tag, Unavailable for an unreachable registry.
using ImageVerifier = std::function<absl::StatusOr<std::string>(const std::string& tagged_image)>;

struct WorkloadTarget {
  WorkloadRef workload;
  std::string container;   // empty: the only one, or the one named like the workload
  std::string tag_prefix;
  // Where the image the last update replaced is kept, for its roll-back
  // (survives a restart of the updater's pod when on a volume).
  std::string previous_image_file;
};

// GET of the workload, parsed, with the agent's container index.
struct FetchedWorkload {
  Workload workload;
  size_t container = 0;
};
absl::StatusOr<FetchedWorkload> FetchWorkload(KubeApi& api, const WorkloadTarget& target);
// The workload's pods, by its selector.
absl::StatusOr<std::vector<Pod>> ListPods(KubeApi& api, const WorkloadTarget& target, const Workload& workload);

class WorkloadInstaller final : public Installer {
 public:
  WorkloadInstaller(KubeApi* api, WorkloadTarget target, ImageVerifier verify)
      : api_(api), target_(std::move(target)), verify_(std::move(verify)) {}

  std::string Name() const override { return "kubernetes"; }
  absl::StatusOr<std::optional<std::string>> InstalledVersion() override;
  absl::Status Install(const std::string& version) override;
  // Back to the image the update replaced, exactly as it was (by digest if
  // it was); a verified image of `previous_version` when that is unknown.
  // For a StatefulSet, also Kubernetes' "forced rollback": its pods left
  // not ready on the failed image are deleted, since an OrderedReady
  // StatefulSet waits for them forever (RBAC: delete pods).
  absl::Status Rollback(const std::string& previous_version) override;

  // The image the last Install (or Rollback) patched in; empty before one.
  const std::string& installed_image() const { return installed_image_; }
  // A Rollback was started by this installer (a pass must not be left
  // before its watch ends: nothing on disk records it until then).
  bool rolling_back() const { return rolling_back_; }
  // How long a StatefulSet's forced rollback waits for the controller to
  // observe the template put back.
  void set_observe_timeout(absl::Duration d) { observe_timeout_ = d; }

 private:
  // Patches the agent's container to `image`. `expected`, when not empty,
  // is the image seen when the decision was made: a different one now (a
  // person or a GitOps tool changed it meanwhile) is Aborted, untouched.
  absl::Status PatchImage(const std::string& image, bool remember_previous, const std::string& expected);
  absl::Status ForceStatefulSetRollback(const std::string& image);

  KubeApi* api_;
  const WorkloadTarget target_;
  ImageVerifier verify_;
  std::string installed_image_;
  bool rolling_back_ = false;
  absl::Duration observe_timeout_ = absl::Seconds(30);
};

// Healthy when the workload's current template runs everywhere, ready
// (kube/workload.h RolloutHealth); before an update this is the unhealthy
// trigger, after it the rollout's watch.
class RolloutHealthCheck final : public HealthCheck {
 public:
  // `installer`, when given: while it has patched an image in, a container
  // running another image (reverted by someone else during the watch) is
  // unhealthy, not a success of the update.
  RolloutHealthCheck(KubeApi* api, WorkloadTarget target, int64_t max_restarts,
                     const WorkloadInstaller* installer = nullptr)
      : api_(api), target_(std::move(target)), max_restarts_(max_restarts), installer_(installer) {}
  std::string Name() const override { return "kubernetes-rollout"; }
  // OK when healthy; any error is "unhealthy" to the pass (the trigger
  // that updates at once), so call Observe first.
  absl::Status Check() override;
  // Reads the workload and its pods without judging them: an error here
  // (the API down, RBAC missing, a selector it cannot express) means the
  // health cannot be told, and the pass must be skipped rather than take
  // it for an unhealthy agent and update outside the window.
  absl::Status Observe();

 private:
  struct Observed {
    FetchedWorkload fetched;
    std::vector<Pod> pods;
  };
  absl::StatusOr<Observed> Read();

  KubeApi* api_;
  const WorkloadTarget target_;
  const int64_t max_restarts_;
  const WorkloadInstaller* const installer_;
};


}  // namespace drover::updater::kube
