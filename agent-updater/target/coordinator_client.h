// The updater's view of the coordinator: fetch the target, deliver reports.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "drover/v1/updater_service.pb.h"

namespace drover::updater {

// What one Sync call answered: each half on its own.
struct SyncAnswer {
  absl::StatusOr<v1::GetTargetResponse> target;
  absl::StatusOr<v1::ReportStatusResponse> report;
  // When to come back, as the coordinator chose it; zero: it said nothing.
  absl::Duration next_sync = absl::ZeroDuration();
};

class CoordinatorClient {
 public:
  virtual ~CoordinatorClient() = default;
  virtual absl::StatusOr<v1::GetTargetResponse> GetTarget(const v1::GetTargetRequest& request) = 0;
  virtual absl::StatusOr<v1::ReportStatusResponse> ReportStatus(const v1::ReportStatusRequest& request) = 0;
  // The report and the target of its (channel, host_id, group) in one round
  // trip. A non-OK status: the call as a whole failed (UNIMPLEMENTED from a
  // coordinator that predates Sync; unreachable, ...), and neither half
  // was answered. The halves carry the errors GetTarget and ReportStatus
  // would have given, reasons (common/rpc_reason.h) included.
  virtual absl::StatusOr<SyncAnswer> Sync(const v1::ReportStatusRequest& report) {
    (void)report;
    return absl::UnimplementedError("this client has no Sync");
  }
};

// What a failed call to the coordinator means for an operator.
struct CoordinatorError {
  enum class Kind {
    kUnreachable,          // no answer: network, address, coordinator down
    kDatabaseUnavailable,  // the coordinator answers, its database does not
    kChannelNotFound,      // the channel was deleted or is mistyped
    kRefused,              // the coordinator answered with another error
  };
  Kind kind;
  // Whether the coordinator itself answered.
  bool answered;
  // One line: what happened, with the coordinator's words, and what to do.
  std::string text;
};
CoordinatorError DescribeCoordinatorError(const absl::Status& status, const std::string& channel);

// Over gRPC. The channel is opened on first use and closed by Close(), so an
// idle daemon holds no connection (and little memory) between passes.
std::unique_ptr<CoordinatorClient> MakeGrpcCoordinatorClient(const std::string& address, absl::Duration timeout);

// TLS to the coordinator: its certificate must chain to ca_pem; with
// key_pem and cert_pem, the host's client certificate is presented (mTLS,
// needed for reports), without them only the server is authenticated
// (enough to read the target).
struct ClientTls {
  std::string ca_pem;
  std::string key_pem;
  std::string cert_pem;
};
std::unique_ptr<CoordinatorClient> MakeGrpcCoordinatorClient(const std::string& address, absl::Duration timeout,
                                                              const ClientTls& tls);

}  // namespace drover::updater
