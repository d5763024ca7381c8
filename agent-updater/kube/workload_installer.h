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

class WorkloadInstaller final : public Installer {
 public:
  WorkloadInstaller(KubeApi* api, WorkloadTarget target, ImageVerifier verify)
      : api_(api), target_(std::move(target)), verify_(std::move(verify)) {}

  std::string Name() const override { return "kubernetes"; }
  absl::StatusOr<std::optional<std::string>> InstalledVersion() override;
  absl::Status Install(const std::string& version) override;
  // Back to the image the update replaced, exactly as it was (by digest if
  // it was); a verified image of `previous_version` when that is unknown.
  absl::Status Rollback(const std::string& previous_version) override;

 private:
  // Patches the agent's container from its current image to `image`.
  absl::Status PatchImage(const std::string& image, bool remember_previous);

  KubeApi* api_;
  const WorkloadTarget target_;
  ImageVerifier verify_;
};

// Healthy when the workload's current template runs everywhere, ready
// (kube/workload.h RolloutHealth); before an update this is the unhealthy
// trigger, after it the rollout's watch.
class RolloutHealthCheck final : public HealthCheck {
 public:
  RolloutHealthCheck(KubeApi* api, WorkloadTarget target, int64_t max_restarts)
      : api_(api), target_(std::move(target)), max_restarts_(max_restarts) {}
  std::string Name() const override { return "kubernetes-rollout"; }
  absl::Status Check() override;

 private:
  KubeApi* api_;
  const WorkloadTarget target_;
  const int64_t max_restarts_;
};

// GET of the workload, parsed, with the agent's container index.
struct FetchedWorkload {
  Workload workload;
  size_t container = 0;
};
absl::StatusOr<FetchedWorkload> FetchWorkload(KubeApi& api, const WorkloadTarget& target);

}  // namespace drover::updater::kube
