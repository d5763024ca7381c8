// The parts of a Kubernetes Deployment or StatefulSet (apps/v1) and of its
// Pods (core/v1) the updater reads, parsed from the API server's JSON, and
// the rules on them: which container is the agent, when a rollout is done,
// what the operator asked for in the workload's annotations. Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::updater::kube {

// The workload the updater manages, as given by --workload=KIND/NAME.
struct WorkloadRef {
  std::string kind;  // "deployment" or "statefulset"
  std::string name;
  std::string namespace_name;

  // "/apis/apps/v1/namespaces/<ns>/deployments/<name>"
  std::string ApiPath() const;
  // "Deployment" / "StatefulSet"
  std::string KindName() const;
};
// "deployment/teleport-agent" or "statefulset/NAME" (plural and
// capitalised kinds accepted); InvalidArgument otherwise.
absl::StatusOr<WorkloadRef> ParseWorkloadRef(absl::string_view text, absl::string_view namespace_name);

struct Container {
  std::string name;
  std::string image;
};

struct Workload {
  std::string resource_version;
  int64_t generation = 0;
  int64_t observed_generation = 0;
  int64_t spec_replicas = 1;  // Kubernetes' default when unset
  int64_t replicas = 0;
  int64_t updated_replicas = 0;
  int64_t ready_replicas = 0;
  int64_t available_replicas = 0;
  std::map<std::string, std::string> match_labels;
  std::vector<Container> containers;
  std::map<std::string, std::string> annotations;
};
absl::StatusOr<Workload> ParseWorkload(absl::string_view json_text);

struct Pod {
  std::string name;
  std::string uid;
  bool ready = false;
  bool terminating = false;
  // Highest restartCount among its containers.
  int64_t restarts = 0;
  // A container waits in CrashLoopBackOff.
  bool crash_looping = false;
  std::map<std::string, std::string> images;  // container name -> spec image
};
// A core/v1 PodList.
absl::StatusOr<std::vector<Pod>> ParsePodList(absl::string_view json_text);

// "app=teleport,component=agent" for ?labelSelector=; InvalidArgument for
// an empty selector (it would match every pod of the namespace).
absl::StatusOr<std::string> LabelSelector(const std::map<std::string, std::string>& match_labels);

// The index of the agent's container: `wanted` by name; without it the only
// container, or the one named like the workload. InvalidArgument naming the
// containers otherwise.
absl::StatusOr<size_t> AgentContainer(const Workload& workload, absl::string_view workload_name,
                                      absl::string_view wanted);

// Whether the workload runs its current template healthy: OK when the
// controller observed the latest generation, every replica is updated, ready
// and available, no extra (old) replica is left and every pod is ready.
// Unavailable (still rolling, or a pod not ready) says what is missing;
// Aborted when a pod of the current image is not ready after restarting
// more than `max_restarts` times: a crash loop that waiting will not fix.
absl::Status RolloutHealth(const Workload& workload, const std::vector<Pod>& pods, size_t container,
                           int64_t max_restarts);

// What the operator allows: the --report_only flag and the workload's
// annotation drover/update-mode (report-only | disabled).
inline constexpr char kUpdateModeAnnotation[] = "drover/update-mode";
enum class UpdateMode { kEnabled, kReportOnly, kDisabled };
struct UpdateModeChoice {
  UpdateMode mode = UpdateMode::kEnabled;
  std::string source;   // "--report_only", "annotation drover/update-mode=disabled"
  std::string warning;  // an annotation value not understood (taken as report-only)
};
UpdateModeChoice ChooseUpdateMode(const std::map<std::string, std::string>& annotations, bool report_only_flag);

// One line of a watch stream: {"type": ..., "object": {...}}.
struct WatchEvent {
  std::string type;              // ADDED, MODIFIED, DELETED, BOOKMARK or ERROR
  std::string resource_version;  // the object's; empty for ERROR
  int64_t code = 0;              // ERROR: the Status object's code (410: too old)
  std::string message;           // ERROR: the Status object's message
};
// InvalidArgument for a line that is no watch event.
absl::StatusOr<WatchEvent> ParseWatchEvent(absl::string_view line);

// metadata.resourceVersion of a List answer (where a watch starts from).
absl::StatusOr<std::string> ListResourceVersion(absl::string_view json_text);

// A selector as a URL query value ('=', ',', '/' and the rest escaped).
std::string QueryEscape(absl::string_view value);

// The pods a StatefulSet left on a bad revision after its template was
// put back: with podManagementPolicy OrderedReady (the default) the
// controller waits for a broken pod to become ready before it replaces
// it, which it never will. Kubernetes' "forced rollback": delete them.
// The pods whose container `container` runs another image than `image`
// and that are not ready (nor already terminating).
std::vector<Pod> PodsToForceRollBack(const std::vector<Pod>& pods, absl::string_view container,
                                     absl::string_view image);
// The DeleteOptions for one of them: a precondition on its uid, so that a
// pod of the same name the controller made meanwhile (from the template
// put back) is not deleted instead (409).
std::string DeletePodOptions(const Pod& pod);

// "<cluster>:<namespace>:<kind>.<name>"; InvalidArgument when a part holds
// a character a host id cannot ("-._:@", letters, digits) or it is too long.
absl::StatusOr<std::string> KubeHostId(absl::string_view cluster, const WorkloadRef& workload);

}  // namespace drover::updater::kube
