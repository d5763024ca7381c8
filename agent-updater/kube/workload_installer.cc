#include "agent-updater/kube/workload_installer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent-updater/kube/image_patch.h"
#include "common/atomic_file.h"
#include "common/log.h"

namespace drover::updater::kube {

absl::StatusOr<FetchedWorkload> FetchWorkload(KubeApi& api, const WorkloadTarget& target) {
  absl::StatusOr<std::string> body = api.Get(target.workload.ApiPath());
  if (!body.ok()) return body.status();
  absl::StatusOr<Workload> w = ParseWorkload(*body);
  if (!w.ok()) return w.status();
  absl::StatusOr<size_t> index = AgentContainer(*w, target.workload.name, target.container);
  if (!index.ok()) return index.status();
  return FetchedWorkload{*std::move(w), *index};
}

absl::StatusOr<std::optional<std::string>> WorkloadInstaller::InstalledVersion() {
  absl::StatusOr<FetchedWorkload> f = FetchWorkload(*api_, target_);
  if (!f.ok()) return f.status();
  absl::StatusOr<std::string> v = VersionOfImage(f->workload.containers[f->container].image, target_.tag_prefix);
  if (!v.ok()) return v.status();
  return std::optional<std::string>(*v);
}

absl::Status WorkloadInstaller::Install(const std::string& version) {
  absl::StatusOr<FetchedWorkload> f = FetchWorkload(*api_, target_);
  if (!f.ok()) return f.status();
  const std::string tagged = ImageForVersion(f->workload.containers[f->container].image, version, target_.tag_prefix);
  absl::StatusOr<std::string> pinned = verify_(tagged);
  if (!pinned.ok()) {
    return absl::Status(pinned.status().code(),
                        absl::StrCat("refused ", tagged, ", the workload was left untouched: ", pinned.status().message()));
  }
  LogInfo(absl::StrCat("verified ", tagged, " as ", *pinned));
  return PatchImage(*pinned, /*remember_previous=*/true);
}

absl::Status WorkloadInstaller::Rollback(const std::string& previous_version) {
  absl::StatusOr<std::string> kept = ReadFile(target_.previous_image_file);
  std::string image = kept.ok() ? std::string(absl::StripAsciiWhitespace(*kept)) : "";
  absl::StatusOr<std::string> kept_version = VersionOfImage(image, target_.tag_prefix);
  if (image.empty() || !kept_version.ok() || *kept_version != previous_version) {
    // Not kept (another volume, a lost file): the previous version is
    // verified like any other before it is deployed.
    absl::StatusOr<FetchedWorkload> f = FetchWorkload(*api_, target_);
    if (!f.ok()) return f.status();
    const std::string tagged =
        ImageForVersion(f->workload.containers[f->container].image, previous_version, target_.tag_prefix);
    absl::StatusOr<std::string> pinned = verify_(tagged);
    if (!pinned.ok()) return pinned.status();
    image = *pinned;
  }
  return PatchImage(image, /*remember_previous=*/false);
}

absl::Status WorkloadInstaller::PatchImage(const std::string& image, bool remember_previous) {
  absl::StatusOr<FetchedWorkload> f = FetchWorkload(*api_, target_);
  if (!f.ok()) return f.status();
  const Container& c = f->workload.containers[f->container];
  if (c.image == image) return absl::OkStatus();
  if (remember_previous) {
    if (absl::Status s = WriteFileAtomically(target_.previous_image_file, c.image + "\n", 0600); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("cannot keep the current image for a roll-back: ", s.message()));
    }
  }
  absl::StatusOr<std::string> patched =
      api_->JsonPatch(target_.workload.ApiPath(), BuildImagePatch(f->container, c.name, c.image, image));
  if (!patched.ok()) {
    if (absl::IsAborted(patched.status())) {
      return absl::AbortedError(absl::StrCat("the image of container ", c.name, " changed while it was being patched (",
                                             patched.status().message(), "); nothing was changed"));
    }
    return patched.status();
  }
  LogInfo(absl::StrCat(target_.workload.KindName(), " ", target_.workload.name, " container ", c.name, ": ",
                       c.image, " -> ", image));
  return absl::OkStatus();
}

absl::Status RolloutHealthCheck::Check() {
  absl::StatusOr<FetchedWorkload> f = FetchWorkload(*api_, target_);
  if (!f.ok()) return absl::UnavailableError(f.status().message());
  absl::StatusOr<std::string> selector = LabelSelector(f->workload.match_labels);
  if (!selector.ok()) return absl::UnavailableError(selector.status().message());
  std::string escaped;
  for (char ch : *selector) {
    if (ch == '=' ) escaped += "%3D";
    else if (ch == ',') escaped += "%2C";
    else if (ch == '/') escaped += "%2F";
    else escaped += ch;
  }
  absl::StatusOr<std::string> body =
      api_->Get(absl::StrCat("/api/v1/namespaces/", target_.workload.namespace_name, "/pods?labelSelector=", escaped));
  if (!body.ok()) return absl::UnavailableError(body.status().message());
  absl::StatusOr<std::vector<Pod>> pods = ParsePodList(*body);
  if (!pods.ok()) return absl::UnavailableError(pods.status().message());
  return RolloutHealth(f->workload, *pods, f->container, max_restarts_);
}

}  // namespace drover::updater::kube
