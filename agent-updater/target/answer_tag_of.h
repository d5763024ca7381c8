// The answer tag (common/answer_tag.h) of a GetTarget answer as the updater
// received it: the pass hands it to the daemon, whose watch poll then wakes
// only when the coordinator's answer for this host differs from it.
#pragma once

#include <string>

#include "drover/v1/updater_service.pb.h"

namespace drover::updater {

std::string AnswerTagOf(const v1::GetTargetResponse& answer);

}  // namespace drover::updater
