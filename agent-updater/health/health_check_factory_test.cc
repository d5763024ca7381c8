#include "agent-updater/health/health_check_factory.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::updater {
namespace {

using drover::testing::IsError;
using Code = absl::StatusCode;

TEST(MakeHealthCheckTest, BuildsEachKind) {
  drover::v1::HealthCheck c;
  c.mutable_http()->set_url("http://127.0.0.1:3000/readyz");
  absl::StatusOr<std::unique_ptr<HealthCheck>> check = MakeHealthCheck(c);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ((*check)->Name(), "http");

  c.mutable_systemd()->set_unit("teleport.service");
  check = MakeHealthCheck(c);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ((*check)->Name(), "systemd");

  c.mutable_command()->add_argv("true");
  c.mutable_timeout()->set_seconds(1);
  check = MakeHealthCheck(c);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ((*check)->Name(), "command");
  EXPECT_TRUE((*check)->Check().ok());
}

TEST(MakeHealthCheckTest, RefusesBadConfigurationNamingTheField) {
  drover::v1::HealthCheck c;
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check", "one of"}));

  c.mutable_http();
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.http.url"}));
  c.mutable_http()->set_url("localhost:3000/readyz");
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument,
                      {"agent.health_check.http.url", "localhost:3000/readyz"}));
  c.mutable_http()->set_url("ftp://127.0.0.1/readyz");
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.http.url", "ftp://"}));
  // https is checked against the system CA store.
  c.mutable_http()->set_url("https://127.0.0.1/readyz");
  EXPECT_TRUE(MakeHealthCheck(c).ok());
  c.mutable_http()->set_url("http://127.0.0.1/readyz");
  c.mutable_http()->set_expected_status(42);
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.http.expected_status"}));

  c.mutable_systemd()->set_unit("");
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.systemd.unit"}));
  c.mutable_systemd()->set_unit("--force");
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.systemd.unit"}));
  c.mutable_systemd()->set_unit("a unit");
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.systemd.unit"}));

  c.mutable_command();
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.command.argv"}));
  c.mutable_command()->add_argv("");
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.command.argv"}));

  c.mutable_command()->set_argv(0, "true");
  c.mutable_timeout()->set_seconds(-1);
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.timeout"}));
  c.mutable_timeout()->set_seconds(0);
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.timeout"}));
  c.mutable_timeout()->set_seconds(86400);
  EXPECT_TRUE(IsError(MakeHealthCheck(c).status(), Code::kInvalidArgument, {"agent.health_check.timeout"}));

  // Another place in a configuration can name itself.
  drover::v1::HealthCheck empty;
  EXPECT_TRUE(IsError(MakeHealthCheck(empty, "agents[2].health_check").status(), Code::kInvalidArgument,
                      {"agents[2].health_check"}));
}

}  // namespace
}  // namespace drover::updater
