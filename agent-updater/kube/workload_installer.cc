#include "agent-updater/kube/workload_installer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
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
  if (absl::Status s = PatchImage(*pinned, /*remember_previous=*/true, f->workload.containers[f->container].image);
      !s.ok()) {
    return s;
  }
  installed_image_ = *pinned;
  return absl::OkStatus();
}

absl::Status WorkloadInstaller::Rollback(const std::string& previous_version) {
  rolling_back_ = true;
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
  if (absl::Status s = PatchImage(image, /*remember_previous=*/false, /*expected=*/""); !s.ok()) return s;
  // The roll-back's own watch expects the image patched back.
  installed_image_ = image;
  if (target_.workload.kind == "statefulset") return ForceStatefulSetRollback(image);
  return absl::OkStatus();
}

absl::Status WorkloadInstaller::ForceStatefulSetRollback(const std::string& image) {
  // A pod deleted before the controller saw the template put back would be
  // created again on the failed one: wait (a little) for it to.
  absl::StatusOr<FetchedWorkload> f = FetchWorkload(*api_, target_);
  for (const absl::Time deadline = absl::Now() + observe_timeout_;
       f.ok() && f->workload.observed_generation < f->workload.generation && absl::Now() < deadline;
       f = FetchWorkload(*api_, target_)) {
    absl::SleepFor(absl::Milliseconds(250));
  }
  if (!f.ok()) return f.status();
  if (f->workload.observed_generation < f->workload.generation) {
    return absl::UnavailableError(absl::StrCat(
        "the image was put back, but the StatefulSet controller has not observed generation ",
        f->workload.generation, " (it is at ", f->workload.observed_generation, ") within ",
        absl::FormatDuration(observe_timeout_), ": no pod was deleted, since it would come back on the failed image"));
  }
  absl::StatusOr<std::vector<Pod>> pods = ListPods(*api_, target_, f->workload);
  if (!pods.ok()) return pods.status();
  const std::string& container = f->workload.containers[f->container].name;
  for (const Pod& pod : PodsToForceRollBack(*pods, container, image)) {
    // The StatefulSet waits for this pod to be ready before it replaces it,
    // which a broken image never is: deleting it lets the controller
    // create it again from the template put back.
    absl::Status d = api_->Delete(
        absl::StrCat("/api/v1/namespaces/", target_.workload.namespace_name, "/pods/", pod.name), DeletePodOptions(pod));
    if (absl::IsAborted(d)) {
      LogInfo(absl::StrCat("pod ", pod.name, " was replaced meanwhile (uid ", pod.uid, " is gone): left alone"));
      continue;
    }
    if (!d.ok()) {
      return absl::Status(d.code(), absl::StrCat("the image was put back, but pod ", pod.name,
                                                 ", left on the failed image, could not be deleted (a StatefulSet "
                                                 "does not replace it by itself): ", d.message()));
    }
    LogInfo(absl::StrCat("deleted pod ", pod.name, ", not ready on the failed image: the StatefulSet creates it "
                         "again from the template put back"));
  }
  return absl::OkStatus();
}

absl::Status WorkloadInstaller::PatchImage(const std::string& image, bool remember_previous,
                                          const std::string& expected) {
  absl::StatusOr<FetchedWorkload> f = FetchWorkload(*api_, target_);
  if (!f.ok()) return f.status();
  const Container& c = f->workload.containers[f->container];
  if (c.image == image) return absl::OkStatus();
  if (!expected.empty() && c.image != expected) {
    return absl::AbortedError(absl::StrCat("the image of container ", c.name, " changed from ", expected, " to ",
                                           c.image, " while ", image, " was being verified; nothing was changed"));
  }
  if (remember_previous) {
    // A roll-back must not redeploy a tag that has moved since: the image
    // replaced is kept by its verified digest when it has none.
    std::string previous = c.image;
    if (!absl::StrContains(previous, "@sha256:")) {
      if (absl::StatusOr<std::string> pinned = verify_(previous); pinned.ok()) {
        previous = *pinned;
      } else {
        LogWarning(absl::StrCat("the image being replaced, ", previous, ", does not verify (",
                                pinned.status().message(), "): a roll-back would redeploy that tag as it is then"));
      }
    }
    if (absl::Status s = WriteFileAtomically(target_.previous_image_file, previous + "\n", 0600); !s.ok()) {
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

absl::StatusOr<std::vector<Pod>> ListPods(KubeApi& api, const WorkloadTarget& target, const Workload& workload) {
  absl::StatusOr<std::string> selector = LabelSelector(workload.match_labels);
  if (!selector.ok()) return selector.status();
  absl::StatusOr<std::string> body = api.Get(absl::StrCat("/api/v1/namespaces/", target.workload.namespace_name,
                                                          "/pods?labelSelector=", QueryEscape(*selector)));
  if (!body.ok()) return body.status();
  return ParsePodList(*body);
}

absl::StatusOr<RolloutHealthCheck::Observed> RolloutHealthCheck::Read() {
  absl::StatusOr<FetchedWorkload> f = FetchWorkload(*api_, target_);
  if (!f.ok()) return f.status();
  absl::StatusOr<std::vector<Pod>> pods = ListPods(*api_, target_, f->workload);
  if (!pods.ok()) return pods.status();
  return Observed{*std::move(f), *std::move(pods)};
}

absl::Status RolloutHealthCheck::Observe() {
  absl::StatusOr<Observed> o = Read();
  if (!o.ok()) {
    return absl::Status(o.status().code(),
                        absl::StrCat("cannot tell the health of the workload's pods: ", o.status().message()));
  }
  return absl::OkStatus();
}

absl::Status RolloutHealthCheck::Check() {
  absl::StatusOr<Observed> o = Read();
  // During a rollout watch, an API error is waited out until the deadline.
  if (!o.ok()) return absl::UnavailableError(o.status().message());
  if (installer_ != nullptr && !installer_->installed_image().empty()) {
    const std::string& now = o->fetched.workload.containers[o->fetched.container].image;
    if (now != installer_->installed_image()) {
      // Final (Aborted): waiting will not bring the patched image back.
      return absl::AbortedError(absl::StrCat("the container's image is ", now, ", not ",
                                                        installer_->installed_image(),
                                                        " as patched: someone else changed it during the rollout"));
    }
  }
  return RolloutHealth(o->fetched.workload, o->pods, o->fetched.container, max_restarts_);
}

}  // namespace drover::updater::kube
