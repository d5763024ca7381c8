#include "agent-updater/kube/workload_installer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/kube/fake_kube_api.h"
#include "common/status_testing.h"

namespace drover::updater::kube {
namespace {

using ::drover::testing::IsError;

constexpr char kOld[] = "reg.io/teleport:1.1.0@sha256:1111111111111111111111111111111111111111111111111111111111111111";
constexpr char kBad[] = "reg.io/teleport:1.2.0@sha256:2222222222222222222222222222222222222222222222222222222222222222";

std::string WorkloadJson(const std::string& kind, const std::string& image, int64_t generation = 3,
                         int64_t observed = 3) {
  return absl::StrCat(R"({"apiVersion":"apps/v1","kind":")", kind, R"(",
    "metadata":{"name":"teleport-agent","namespace":"teleport","resourceVersion":"4711","generation":)", generation,
                      R"(},
    "spec":{"replicas":2,"selector":{"matchLabels":{"app":"teleport-agent"}},
      "template":{"metadata":{"labels":{"app":"teleport-agent"}},"spec":{"containers":[
        {"name":"teleport-agent","image":")", image, R"("}]}}},
    "status":{"observedGeneration":)", observed, R"(,"replicas":2,"updatedReplicas":1,"readyReplicas":1}})");
}

std::string PodJson(const std::string& name, const std::string& image, bool ready) {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"(","uid":"uid-)", name,
                      R"(","labels":{"app":"teleport-agent"}},
    "spec":{"containers":[{"name":"teleport-agent","image":")", image, R"("}]},
    "status":{"conditions":[{"type":"Ready","status":")", ready ? "True" : "False", R"("}],
      "containerStatuses":[{"name":"teleport-agent","ready":)", ready ? "true" : "false",
                      R"(,"restartCount":3}]}})");
}

class WorkloadInstallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/drover-kube-installer-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    std::remove((dir_ + "/previous-image").c_str());
    rmdir(dir_.c_str());
  }
  WorkloadTarget Target(const std::string& kind) const {
    return {{kind, "teleport-agent", "teleport"}, "", "", dir_ + "/previous-image"};
  }
  std::string dir_;
};

TEST_F(WorkloadInstallerTest, AnImageChangedWhileTheNewOneIsVerifiedIsLeftAlone) {
  FakeKubeApi api;
  std::string current = "reg.io/teleport:1.0.0";
  api.get = [&](const std::string&) -> absl::StatusOr<std::string> { return WorkloadJson("Deployment", current); };
  // Someone (a person, a GitOps tool) sets another image while the
  // registry is asked about the new one.
  ImageVerifier verify = [&](const std::string& tagged) -> absl::StatusOr<std::string> {
    current = "reg.io/teleport:0.9.9";
    return tagged + "@sha256:" + std::string(64, 'a');
  };
  WorkloadInstaller installer(&api, Target("deployment"), verify);
  absl::Status s = installer.Install("1.1.0");
  EXPECT_TRUE(IsError(s, absl::StatusCode::kAborted,
                      {"changed from reg.io/teleport:1.0.0 to reg.io/teleport:0.9.9", "nothing was changed"}));
  for (const std::string& call : api.calls()) EXPECT_FALSE(absl::StartsWith(call, "PATCH")) << call;
  EXPECT_TRUE(installer.installed_image().empty());
}

TEST_F(WorkloadInstallerTest, APatchWhoseTestFailsIsAbortedNamingIt) {
  FakeKubeApi api;
  api.get = [&](const std::string&) -> absl::StatusOr<std::string> {
    return WorkloadJson("Deployment", "reg.io/teleport:1.0.0");
  };
  // The image changed between the read and the patch: the API server's
  // answer to the patch's failed "test".
  api.patch = [](const std::string&, const std::string&) -> absl::StatusOr<std::string> {
    return absl::AbortedError("test failed: /spec/template/spec/containers/0/image");
  };
  WorkloadInstaller installer(&api, Target("deployment"), [](const std::string& tagged) -> absl::StatusOr<std::string> {
    return tagged + "@sha256:" + std::string(64, 'a');
  });
  EXPECT_TRUE(IsError(installer.Install("1.1.0"), absl::StatusCode::kAborted,
                      {"changed while it was being patched", "test failed"}));
}

class StatefulSetRollbackTest : public WorkloadInstallerTest {
 protected:
  void Prepare(FakeKubeApi& api) {
    std::ofstream(dir_ + "/previous-image") << kOld << "\n";
    api.get = [this](const std::string& path) -> absl::StatusOr<std::string> {
      if (absl::StrContains(path, "/pods?")) {
        return absl::StrCat(R"({"kind":"PodList","items":[)", PodJson("teleport-agent-0", kOld, true), ",",
                            PodJson("teleport-agent-1", kBad, false), "]}");
      }
      // The controller sees the template put back on the second read.
      ++reads_;
      return reads_ == 1 ? WorkloadJson("StatefulSet", image_)
                         : WorkloadJson("StatefulSet", image_, 4, reads_ > 2 && catches_up_ ? 4 : 3);
    };
    api.patch = [this](const std::string&, const std::string&) -> absl::StatusOr<std::string> {
      image_ = kOld;
      return WorkloadJson("StatefulSet", image_, 4, 3);
    };
  }
  std::string image_ = kBad;
  int reads_ = 0;
  bool catches_up_ = true;
};

TEST_F(StatefulSetRollbackTest, DeletesThePodLeftNotReadyOnTheFailedImage) {
  FakeKubeApi api;
  Prepare(api);
  WorkloadInstaller installer(&api, Target("statefulset"), [](const std::string&) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("not asked: the previous image is kept");
  });
  ASSERT_TRUE(installer.Rollback("1.1.0").ok());
  std::vector<std::string> deletes;
  size_t patch_at = 0, delete_at = 0;
  const std::vector<std::string> calls = api.calls();
  for (size_t i = 0; i < calls.size(); ++i) {
    if (absl::StartsWith(calls[i], "PATCH")) patch_at = i;
    if (absl::StartsWith(calls[i], "DELETE")) {
      deletes.push_back(calls[i]);
      delete_at = i;
    }
  }
  EXPECT_EQ(deletes, std::vector<std::string>{
                         "DELETE /api/v1/namespaces/teleport/pods/teleport-agent-1 "
                         R"({"apiVersion":"v1","kind":"DeleteOptions","preconditions":{"uid":"uid-teleport-agent-1"}})"});
  // After the patch, and after the controller observed it.
  EXPECT_GT(delete_at, patch_at);
  EXPECT_GE(reads_, 3);
  EXPECT_EQ(installer.installed_image(), kOld);
}

TEST_F(StatefulSetRollbackTest, ADeleteRefusedIsAnErrorNamingThePod) {
  FakeKubeApi api;
  Prepare(api);
  api.del = [](const std::string&, const std::string&) {
    return absl::PermissionDeniedError("pods \"teleport-agent-1\" is forbidden");
  };
  WorkloadInstaller installer(&api, Target("statefulset"), [](const std::string&) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("not asked");
  });
  EXPECT_TRUE(IsError(installer.Rollback("1.1.0"), absl::StatusCode::kPermissionDenied,
                      {"pod teleport-agent-1", "could not be deleted", "forbidden"}));
}

TEST_F(StatefulSetRollbackTest, AControllerThatDoesNotObserveTheTemplateGetsNoDelete) {
  FakeKubeApi api;
  Prepare(api);
  catches_up_ = false;
  WorkloadInstaller installer(&api, Target("statefulset"), [](const std::string&) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("not asked");
  });
  installer.set_observe_timeout(absl::Milliseconds(600));
  EXPECT_TRUE(IsError(installer.Rollback("1.1.0"), absl::StatusCode::kUnavailable,
                      {"has not observed generation 4", "no pod was deleted"}));
  for (const std::string& call : api.calls()) EXPECT_FALSE(absl::StartsWith(call, "DELETE")) << call;
}

TEST_F(StatefulSetRollbackTest, APodReplacedMeanwhileIsLeftAlone) {
  FakeKubeApi api;
  Prepare(api);
  // The uid precondition failed: the controller already made a new pod of
  // that name.
  api.del = [](const std::string&, const std::string&) {
    return absl::AbortedError("Precondition failed: UID in precondition: uid-teleport-agent-1, UID in object meta: x");
  };
  WorkloadInstaller installer(&api, Target("statefulset"), [](const std::string&) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("not asked");
  });
  EXPECT_TRUE(installer.Rollback("1.1.0").ok());
  EXPECT_TRUE(installer.rolling_back());
}

TEST_F(StatefulSetRollbackTest, ADeploymentRollbackDeletesNothing) {
  FakeKubeApi api;
  std::ofstream(dir_ + "/previous-image") << kOld << "\n";
  std::string image = kBad;
  api.get = [&](const std::string&) -> absl::StatusOr<std::string> { return WorkloadJson("Deployment", image); };
  api.patch = [&](const std::string&, const std::string&) -> absl::StatusOr<std::string> {
    image = kOld;
    return WorkloadJson("Deployment", image);
  };
  WorkloadInstaller installer(&api, Target("deployment"), [](const std::string&) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("not asked");
  });
  ASSERT_TRUE(installer.Rollback("1.1.0").ok());
  for (const std::string& call : api.calls()) EXPECT_FALSE(absl::StartsWith(call, "DELETE")) << call;
}

}  // namespace
}  // namespace drover::updater::kube
