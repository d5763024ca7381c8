// Status assertions for unit tests: the code and the fragments an error
// message must hold, so tests pin what a person would read.
#pragma once

#include <initializer_list>

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace drover::testing {

inline ::testing::AssertionResult IsError(const absl::Status& status, absl::StatusCode code,
                                          std::initializer_list<absl::string_view> fragments = {}) {
  if (status.code() != code) {
    return ::testing::AssertionFailure()
           << "code is " << absl::StatusCodeToString(status.code()) << ", want "
           << absl::StatusCodeToString(code) << " (message: \"" << status.message() << "\")";
  }
  for (absl::string_view fragment : fragments) {
    if (!absl::StrContains(status.message(), fragment)) {
      return ::testing::AssertionFailure()
             << "message \"" << status.message() << "\" lacks \"" << fragment << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace drover::testing
