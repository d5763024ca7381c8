#include "agent-updater/target/coordinator_client.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/rpc_reason.h"

namespace drover::updater {
namespace {

using Kind = CoordinatorError::Kind;

TEST(DescribeCoordinatorErrorTest, TransportFailureNamingADatabaseIsUnreachable) {
  // A real gRPC failure: nothing listens at this address, whose name says "database".
  std::unique_ptr<CoordinatorClient> client =
      MakeGrpcCoordinatorClient("unix:/nonexistent/database-gw.sock", absl::Seconds(5));
  v1::GetTargetRequest req;
  req.set_channel("channels/web");
  absl::StatusOr<v1::GetTargetResponse> got = client->GetTarget(req);
  ASSERT_FALSE(got.ok());
  ASSERT_TRUE(absl::StrContains(got.status().message(), "database")) << got.status();
  EXPECT_EQ(DescribeCoordinatorError(got.status(), "web").kind, Kind::kUnreachable) << got.status();

  EXPECT_EQ(DescribeCoordinatorError(absl::UnavailableError("fetching the target at database-gw.internal:7600: "
                                                            "failed to connect to all addresses"),
                                     "web")
                .kind,
            Kind::kUnreachable);
}

TEST(DescribeCoordinatorErrorTest, DatabaseReasonIsDatabaseUnavailable) {
  CoordinatorError e = DescribeCoordinatorError(
      WithReason(absl::UnavailableError("fetching the target at c:7600: channels: database unavailable"),
                 kReasonDatabaseUnavailable),
      "web");
  EXPECT_EQ(e.kind, Kind::kDatabaseUnavailable);
  EXPECT_TRUE(e.answered);
}

}  // namespace
}  // namespace drover::updater
