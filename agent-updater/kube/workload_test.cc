#include "agent-updater/kube/workload.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/status_testing.h"

namespace drover::updater::kube {
namespace {

using ::drover::testing::IsError;

// A Deployment as the API server returns it (trimmed to what is read).
std::string DeploymentJson(int64_t generation, int64_t observed, int64_t updated, int64_t ready, int64_t available,
                           int64_t replicas = 2) {
  return absl::StrCat(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"teleport-agent","namespace":"teleport","resourceVersion":"4711","generation":)", generation,
                      R"(,"annotations":{"drover/update-mode":"report-only"}},
    "spec":{"replicas":2,"selector":{"matchLabels":{"app":"teleport-agent"}},
      "template":{"metadata":{"labels":{"app":"teleport-agent"}},"spec":{"containers":[
        {"name":"sidecar","image":"reg.io/sidecar:1"},{"name":"teleport-agent","image":"reg.io/teleport:1.1.0"}]}}},
    "status":{"observedGeneration":)", observed, R"(,"replicas":)", replicas, R"(,"updatedReplicas":)", updated,
                      R"(,"readyReplicas":)", ready, R"(,"availableReplicas":)", available, "}}");
}

std::string PodJson(const std::string& name, const std::string& image, bool ready, int restarts, bool crash = false) {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"(","labels":{"app":"teleport-agent"},
      "ownerReferences":[{"kind":"ReplicaSet","name":"teleport-agent-abc"}]},
    "spec":{"containers":[{"name":"sidecar","image":"reg.io/sidecar:1"},{"name":"teleport-agent","image":")", image,
                      R"("}]},
    "status":{"conditions":[{"type":"Ready","status":")", ready ? "True" : "False", R"("}],
      "containerStatuses":[{"name":"teleport-agent","ready":)", ready ? "true" : "false", R"(,"restartCount":)",
                      restarts, R"(,"state":)",
                      crash ? R"({"waiting":{"reason":"CrashLoopBackOff"}})" : R"({"running":{}})", "}]}}");
}

std::string PodList(const std::vector<std::string>& pods) {
  std::string items;
  for (const std::string& p : pods) absl::StrAppend(&items, items.empty() ? "" : ",", p);
  return absl::StrCat(R"({"kind":"PodList","apiVersion":"v1","items":[)", items, "]}");
}

TEST(WorkloadTest, ParsesDeployment) {
  absl::StatusOr<Workload> w = ParseWorkload(DeploymentJson(3, 3, 2, 2, 2));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->resource_version, "4711");
  EXPECT_EQ(w->generation, 3);
  EXPECT_EQ(w->spec_replicas, 2);
  EXPECT_EQ(w->match_labels.at("app"), "teleport-agent");
  ASSERT_EQ(w->containers.size(), 2u);
  EXPECT_EQ(w->containers[1].image, "reg.io/teleport:1.1.0");
  EXPECT_EQ(*AgentContainer(*w, "teleport-agent", ""), 1u);
  EXPECT_EQ(*AgentContainer(*w, "other", "sidecar"), 0u);
  EXPECT_TRUE(IsError(AgentContainer(*w, "other", "").status(), absl::StatusCode::kInvalidArgument,
                      {"sidecar, teleport-agent", "--container"}));
  EXPECT_TRUE(IsError(ParseWorkload("<html>").status(), absl::StatusCode::kInvalidArgument, {"not a JSON"}));
  EXPECT_EQ(*LabelSelector(w->match_labels), "app=teleport-agent");
  EXPECT_FALSE(LabelSelector({}).ok());
}

TEST(WorkloadTest, RolloutHealth) {
  const std::string img = "reg.io/teleport:1.1.0";
  Workload done = *ParseWorkload(DeploymentJson(3, 3, 2, 2, 2));
  std::vector<Pod> healthy = *ParsePodList(PodList({PodJson("a", img, true, 0), PodJson("b", img, true, 1)}));
  EXPECT_TRUE(RolloutHealth(done, healthy, 1, 2).ok());

  Workload unobserved = *ParseWorkload(DeploymentJson(4, 3, 2, 2, 2));
  EXPECT_TRUE(IsError(RolloutHealth(unobserved, healthy, 1, 2), absl::StatusCode::kUnavailable,
                      {"generation 4", "observed 3"}));
  Workload rolling = *ParseWorkload(DeploymentJson(3, 3, 1, 2, 2, 3));
  EXPECT_TRUE(IsError(RolloutHealth(rolling, healthy, 1, 2), absl::StatusCode::kUnavailable,
                      {"1 updated", "3 in all", "of 2 wanted"}));

  // A pod not ready: unhealthy (the trigger), not yet final.
  std::vector<Pod> one_down = *ParsePodList(PodList({PodJson("a", img, true, 0), PodJson("b", img, false, 1)}));
  EXPECT_TRUE(IsError(RolloutHealth(done, one_down, 1, 2), absl::StatusCode::kUnavailable, {"pod b is not ready"}));
  // Restarts past the budget and still not ready: final.
  std::vector<Pod> looping =
      *ParsePodList(PodList({PodJson("a", img, true, 0), PodJson("b", img, false, 3, /*crash=*/true)}));
  EXPECT_TRUE(IsError(RolloutHealth(done, looping, 1, 2), absl::StatusCode::kAborted,
                      {"pod b", "3 restarts", "more than 2", "CrashLoopBackOff"}));
  // An old pod crashing does not fail the new image.
  std::vector<Pod> old_looping =
      *ParsePodList(PodList({PodJson("a", img, true, 0), PodJson("b", "reg.io/teleport:1.0.0", false, 9, true)}));
  EXPECT_TRUE(IsError(RolloutHealth(done, old_looping, 1, 2), absl::StatusCode::kUnavailable, {"pod b"}));
  // Restarted in the past, ready now: healthy.
  std::vector<Pod> recovered = *ParsePodList(PodList({PodJson("a", img, true, 7), PodJson("b", img, true, 0)}));
  EXPECT_TRUE(RolloutHealth(done, recovered, 1, 2).ok());
}

TEST(WorkloadTest, WorkloadRefAndHostId) {
  absl::StatusOr<WorkloadRef> d = ParseWorkloadRef("deployment/teleport-agent", "teleport");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ApiPath(), "/apis/apps/v1/namespaces/teleport/deployments/teleport-agent");
  EXPECT_EQ(*KubeHostId("prod-eu", *d), "prod-eu:teleport:deployment.teleport-agent");
  absl::StatusOr<WorkloadRef> s = ParseWorkloadRef("StatefulSets/agent", "ns");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ApiPath(), "/apis/apps/v1/namespaces/ns/statefulsets/agent");
  EXPECT_EQ(*KubeHostId("kubernetes", *s), "kubernetes:ns:statefulset.agent");
  EXPECT_TRUE(IsError(ParseWorkloadRef("daemonset/x", "ns").status(), absl::StatusCode::kInvalidArgument,
                      {"\"daemonset\" is not deployment or statefulset"}));
  EXPECT_TRUE(IsError(ParseWorkloadRef("teleport-agent", "ns").status(), absl::StatusCode::kInvalidArgument,
                      {"KIND/NAME"}));
  EXPECT_TRUE(IsError(ParseWorkloadRef("deployment/x", "").status(), absl::StatusCode::kInvalidArgument,
                      {"--namespace"}));
  EXPECT_TRUE(IsError(KubeHostId("my cluster", *d).status(), absl::StatusCode::kInvalidArgument,
                      {"' ' is not allowed", "--cluster"}));
  EXPECT_TRUE(IsError(KubeHostId(std::string(120, 'c'), *d).status(), absl::StatusCode::kInvalidArgument,
                      {"longer than 128"}));
}

TEST(WorkloadTest, UpdateMode) {
  EXPECT_EQ(ChooseUpdateMode({}, false).mode, UpdateMode::kEnabled);
  EXPECT_EQ(ChooseUpdateMode({}, true).mode, UpdateMode::kReportOnly);
  EXPECT_EQ(ChooseUpdateMode({}, true).source, "--report_only");
  UpdateModeChoice ro = ChooseUpdateMode({{"drover/update-mode", "report-only"}}, false);
  EXPECT_EQ(ro.mode, UpdateMode::kReportOnly);
  EXPECT_EQ(ro.source, "annotation drover/update-mode=report-only");
  EXPECT_EQ(ChooseUpdateMode({{"drover/update-mode", "disabled"}}, true).mode, UpdateMode::kDisabled);
  UpdateModeChoice typo = ChooseUpdateMode({{"drover/update-mode", "off"}}, false);
  EXPECT_EQ(typo.mode, UpdateMode::kReportOnly);
  EXPECT_NE(typo.warning.find("taken as report-only"), std::string::npos);
}

TEST(WatchEventTest, ParsesTheKindsAndTheVersionItResumesFrom) {
  absl::StatusOr<WatchEvent> e =
      ParseWatchEvent(R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{"resourceVersion":"812"}}})");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, "MODIFIED");
  EXPECT_EQ(e->resource_version, "812");
  e = ParseWatchEvent(R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"900"}}})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->resource_version, "900");
  e = ParseWatchEvent(
      R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version"}})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, 410);
  EXPECT_EQ(e->message, "too old resource version");
  EXPECT_TRUE(e->resource_version.empty());
}

TEST(WatchEventTest, RefusesWhatIsNoWatchEventNamingIt) {
  EXPECT_TRUE(IsError(ParseWatchEvent("not json").status(), absl::StatusCode::kInvalidArgument, {"not json"}));
  EXPECT_TRUE(IsError(ParseWatchEvent(R"({"type":"RENAMED","object":{}})").status(), absl::StatusCode::kInvalidArgument, {"RENAMED"}));
  EXPECT_TRUE(IsError(ParseWatchEvent(R"({"type":"ADDED","object":"x"})").status(), absl::StatusCode::kInvalidArgument, {"without an object"}));
}

TEST(ListResourceVersionTest, ReadsTheListsVersion) {
  absl::StatusOr<std::string> rv = ListResourceVersion(R"({"kind":"PodList","metadata":{"resourceVersion":"77"},"items":[]})");
  ASSERT_TRUE(rv.ok());
  EXPECT_EQ(*rv, "77");
  EXPECT_TRUE(IsError(ListResourceVersion(R"({"kind":"PodList","items":[]})").status(), absl::StatusCode::kInvalidArgument, {"resourceVersion"}));
}

TEST(QueryEscapeTest, EscapesSelectorSyntax) {
  EXPECT_EQ(QueryEscape("app=teleport-agent,app.kubernetes.io/name=x y"),
            "app%3dteleport-agent%2capp.kubernetes.io%2fname%3dx%20y");
  EXPECT_EQ(QueryEscape("metadata.name=a_b~c"), "metadata.name%3da_b~c");
}

TEST(ForcedRollbackTest, PicksPodsNotReadyOnAnotherImageOnly) {
  absl::StatusOr<std::vector<Pod>> pods = ParsePodList(PodList({
      PodJson("teleport-agent-0", "reg.io/teleport:1.1.0", /*ready=*/true, 0),
      PodJson("teleport-agent-1", "reg.io/teleport:1.2.0", /*ready=*/false, 4, /*crash=*/true),
      PodJson("teleport-agent-2", "reg.io/teleport:1.2.0", /*ready=*/true, 0),
      PodJson("teleport-agent-3", "reg.io/teleport:1.1.0", /*ready=*/false, 0)}));
  ASSERT_TRUE(pods.ok()) << pods.status();
  // -1: broken on the failed image. -2 is ready (the controller replaces it
  // itself); -3 already runs the image put back.
  std::vector<Pod> picked = PodsToForceRollBack(*pods, "teleport-agent", "reg.io/teleport:1.1.0");
  ASSERT_EQ(picked.size(), 1u);
  EXPECT_EQ(picked[0].name, "teleport-agent-1");
  // The sidecar's image is not the agent's.
  EXPECT_TRUE(PodsToForceRollBack(*pods, "sidecar", "reg.io/sidecar:1").empty());
}

TEST(ForcedRollbackTest, DeletesOnlyThePodItSawByUid) {
  absl::StatusOr<std::vector<Pod>> pods = ParsePodList(
      R"({"items":[{"metadata":{"name":"teleport-agent-1","uid":"6f1c-42"},"spec":{"containers":[]}}]})");
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ((*pods)[0].uid, "6f1c-42");
  EXPECT_EQ(DeletePodOptions((*pods)[0]),
            R"({"apiVersion":"v1","kind":"DeleteOptions","preconditions":{"uid":"6f1c-42"}})");
  EXPECT_EQ(DeletePodOptions(Pod{}), R"({"apiVersion":"v1","kind":"DeleteOptions"})");
}

}  // namespace
}  // namespace drover::updater::kube
