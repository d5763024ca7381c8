// The health checks against real processes: demo agents, commands, systemctl.
#include <signal.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent-updater/health/command_health_check.h"
#include "agent-updater/health/http_health_check.h"
#include "agent-updater/health/systemd_health_check.h"
#include "common/atomic_file.h"
#include "common/status_testing.h"
#include "tests/support/demo_agent_process.h"
#include "tests/support/test_env.h"
#include "tests/support/test_http_server.h"

namespace drover::updater {
namespace {

using drover::testing::DemoAgentProcess;
using drover::testing::IsError;
using drover::testing::TestHttpServer;

TEST(HttpHealthCheckTest, HealthyDemoAgent) {
  absl::StatusOr<std::unique_ptr<DemoAgentProcess>> agent =
      DemoAgentProcess::Start(drover::testing::BinaryPath("demo-agent-1.2.0"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  HttpHealthCheck check((*agent)->Url("/readyz"), 200, absl::Seconds(5));
  EXPECT_EQ(check.Name(), "http");
  EXPECT_TRUE(check.Check().ok());
  // A path the agent does not serve.
  HttpHealthCheck wrong((*agent)->Url("/healthz"), 200, absl::Seconds(5));
  EXPECT_TRUE(IsError(wrong.Check(), absl::StatusCode::kUnavailable, {"HTTP 404", "want 200"}));
}

TEST(HttpHealthCheckTest, UnhealthyDemoAgentSaysWhy) {
  absl::StatusOr<std::unique_ptr<DemoAgentProcess>> agent =
      DemoAgentProcess::Start(drover::testing::BinaryPath("demo-agent-1.3.0"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  HttpHealthCheck check((*agent)->Url("/readyz"), 200, absl::Seconds(5));
  EXPECT_TRUE(IsError(check.Check(), absl::StatusCode::kUnavailable,
                      {(*agent)->Url("/readyz"), "HTTP 503", "want 200", "unhealthy 1.3.0"}));
  // The expected status is configurable.
  HttpHealthCheck expect_503((*agent)->Url("/readyz"), 503, absl::Seconds(5));
  EXPECT_TRUE(expect_503.Check().ok());
}

TEST(HttpHealthCheckTest, StoppedAgentIsUnhealthy) {
  absl::StatusOr<std::unique_ptr<DemoAgentProcess>> agent =
      DemoAgentProcess::Start(drover::testing::BinaryPath("demo-agent-1.0.0"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::string url = (*agent)->Url("/readyz");
  HttpHealthCheck check(url, 200, absl::Seconds(5));
  ASSERT_TRUE(check.Check().ok());
  ASSERT_NE((*agent)->Stop(SIGTERM, absl::Seconds(10)), -1);
  EXPECT_TRUE(IsError(check.Check(), absl::StatusCode::kUnavailable, {url, "Connection refused"}));
}

TEST(HttpHealthCheckTest, TimeoutBoundsTheCheck) {
  TestHttpServer server([](const std::string&) -> TestHttpServer::Response { return {200, "", absl::Seconds(30)}; });
  HttpHealthCheck check(server.Url("/readyz"), 200, absl::Milliseconds(300));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(IsError(check.Check(), absl::StatusCode::kDeadlineExceeded, {"timed out after 300ms"}));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(CommandHealthCheckTest, ExitStatusDecides) {
  CommandHealthCheck ok({"true"}, absl::Seconds(5));
  EXPECT_EQ(ok.Name(), "command");
  EXPECT_TRUE(ok.Check().ok());
  CommandHealthCheck fails({"false"}, absl::Seconds(5));
  EXPECT_TRUE(IsError(fails.Check(), absl::StatusCode::kUnavailable, {"false", "exited with code 1"}));
  CommandHealthCheck says({"sh", "-c", "echo starting; echo 'db unreachable' >&2; exit 3"}, absl::Seconds(5));
  EXPECT_TRUE(IsError(says.Check(), absl::StatusCode::kUnavailable, {"exited with code 3", "db unreachable"}));
}

TEST(CommandHealthCheckTest, TimeoutKillsTheCommand) {
  CommandHealthCheck slow({"sleep", "30"}, absl::Milliseconds(300));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(IsError(slow.Check(), absl::StatusCode::kDeadlineExceeded, {"sleep 30", "timed out after 300ms"}));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(CommandHealthCheckTest, MissingProgramIsUnhealthy) {
  CommandHealthCheck missing({"/nonexistent/drover-check"}, absl::Seconds(5));
  EXPECT_TRUE(IsError(missing.Check(), absl::StatusCode::kUnavailable, {"/nonexistent/drover-check", "127"}));
}

TEST(SystemdHealthCheckTest, UnitThatDoesNotExistIsUnhealthy) {
  SystemdHealthCheck check("drover-no-such-unit.service", absl::Seconds(10));
  EXPECT_EQ(check.Name(), "systemd");
  EXPECT_TRUE(IsError(check.Check(), absl::StatusCode::kUnavailable,
                      {"drover-no-such-unit.service", "is not active", "exit code"}));
}

// systemctl's answers on a host where systemd runs, from a stand-in script.
TEST(SystemdHealthCheckTest, ReportsTheUnitState) {
  std::string dir = "/tmp/drover-fake-systemctl-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  const std::string fake = dir + "/systemctl";
  ASSERT_TRUE(WriteFileAtomically(fake,
                                  "#!/bin/sh\n"
                                  "case \"$3\" in\n"
                                  "  up.service) echo active; exit 0 ;;\n"
                                  "  down.service) echo failed; exit 3 ;;\n"
                                  "  *) sleep 30 ;;\n"
                                  "esac\n",
                                  0755)
                  .ok());
  EXPECT_TRUE(SystemdHealthCheck("up.service", absl::Seconds(5), fake).Check().ok());
  EXPECT_TRUE(IsError(SystemdHealthCheck("down.service", absl::Seconds(5), fake).Check(),
                      absl::StatusCode::kUnavailable, {"down.service", "is not active: failed", "exit code 3"}));
  EXPECT_TRUE(IsError(SystemdHealthCheck("hung.service", absl::Milliseconds(300), fake).Check(),
                      absl::StatusCode::kDeadlineExceeded, {"hung.service", "timed out"}));
}

}  // namespace
}  // namespace drover::updater
