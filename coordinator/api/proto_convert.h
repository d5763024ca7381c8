// Proto <-> domain conversion for the coordinator's API, with the validation
// every request goes through: bad input becomes InvalidArgument naming the
// field and its value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/api_limits.h"
#include "common/maintenance_window.h"
#include "common/semver.h"
#include "coordinator/rollout/model.h"
#include "coordinator/rollout/rollout_status.h"
#include "coordinator/store/store.h"
#include "drover/v1/agent.pb.h"
#include "drover/v1/channel.pb.h"
#include "drover/v1/operator_service.pb.h"
#include "drover/v1/updater_service.pb.h"
#include "proto/wire/names.h"
#include "proto/wire/time.h"

namespace drover::api {

namespace v1 = ::drover::v1;

// What updaters send is bounded in common/api_limits.h, which they share.
using ::drover::kDefaultPageSize;
using ::drover::kMaxChannelIdLength;
using ::drover::kMaxClockSkew;
using ::drover::kMaxErrorLength;
using ::drover::kMaxGroupLength;
using ::drover::kMaxHostIdLength;
using ::drover::kMaxInstanceIdLength;
using ::drover::kMaxOutcomesPerReport;
using ::drover::kMaxPageSize;
using ::drover::kMaxPollInterval;
using ::drover::kMaxUpdaterVersionLength;
using ::drover::kMinPollInterval;
inline constexpr size_t kMaxReasonLength = 512;
inline constexpr int kMaxWindows = 16;
inline constexpr absl::Duration kDefaultPollInterval = rollout::kDefaultPollInterval;

grpc::Status ToGrpcStatus(const absl::Status& status);

// Both services take encoded requests and parse them here. gRPC 1.51 answers
// a request its own parser refuses (a string field that is not UTF-8, say)
// with a bare UNIMPLEMENTED or INTERNAL that names nothing; this says
// INVALID_ARGUMENT, naming the field and showing its bytes. A request over
// `max_bytes` is RESOURCE_EXHAUSTED saying both sizes (gRPC's own limit is
// set higher, so that these are answered, and counted, here).
absl::Status ParseRequest(const grpc::ByteBuffer& in, size_t max_bytes, google::protobuf::Message* out);
grpc::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out);

absl::Status ValidateChannelId(absl::string_view field, absl::string_view id);
absl::Status ValidateHostId(absl::string_view field, absl::string_view host_id);
// An updater instance id: at most kMaxInstanceIdLength letters, digits and "-_"; may be empty.
absl::Status ValidateInstanceId(absl::string_view field, absl::string_view id);
// A rollout group: at most kMaxGroupLength letters, digits and "-._"; may be empty.
absl::Status ValidateGroup(absl::string_view field, absl::string_view group);
// One line of plain text of at most max_len bytes: no control characters, no DEL.
absl::Status ValidateSingleLine(absl::string_view field, absl::string_view value, size_t max_len);
// "channels/{id}" -> id, validated.
absl::StatusOr<std::string> ParseChannelName(absl::string_view field, absl::string_view name);
using ::drover::wire::ChannelName;

absl::StatusOr<Semver> ParseVersionField(absl::string_view field, absl::string_view value);

// A schedule_state this coordinator does not know (sent by a newer updater)
// is taken as unspecified, logged once and counted here.
absl::StatusOr<rollout::AgentReport> ReportFromProto(const v1::ReportStatusRequest& request, absl::Time now);
int64_t UnknownScheduleStates();

absl::StatusOr<std::vector<MaintenanceWindow>> WindowsFromProto(
    absl::string_view field, const google::protobuf::RepeatedPtrField<v1::MaintenanceWindow>& windows);
void WindowsToProto(const std::vector<MaintenanceWindow>& windows,
                    google::protobuf::RepeatedPtrField<v1::MaintenanceWindow>* out);

// The default when absent; the bounds are rollout::ValidatePollInterval's.
absl::StatusOr<absl::Duration> PollIntervalFromProto(const v1::CreateChannelRequest& request);
// Required here.
absl::StatusOr<absl::Duration> PollIntervalFromProto(const v1::SetPollIntervalRequest& request);
absl::StatusOr<int> PageSizeFromProto(int32_t page_size);

void ChannelToProto(const rollout::Channel& channel, v1::Channel* out);
void AgentToProto(const store::AgentView& agent, v1::Agent* out);
void EventToProto(const store::StoredUpdateEvent& event, v1::UpdateEvent* out);
void ChangeToProto(const rollout::ChannelChange& change, v1::ChannelChange* out);
void RolloutStatusToProto(const rollout::RolloutStatus& status, absl::Time now, v1::RolloutStatus* out);
// Schedule states and instance conflicts of a channel's agents.
void VisibilityToProto(const store::RolloutInputs& inputs, v1::RolloutStatus* out);
void TargetToProto(const rollout::Channel& channel, absl::Time now, v1::GetTargetResponse* out);

using ::drover::wire::DurationToProto;
using ::drover::wire::TimeToProto;

// Opaque page tokens, bound to their list (`kind`) and its filters (any
// string that is equal exactly when the filters are): the last key of the
// previous page. A token of another list, of other filters, or that no
// coordinator made is InvalidArgument saying which; the key returned is UTF-8.
std::string EncodePageToken(absl::string_view kind, absl::string_view filters, absl::string_view last_key);
absl::StatusOr<std::string> DecodePageToken(absl::string_view kind, absl::string_view filters,
                                            absl::string_view token);

}  // namespace drover::api
