// Values as Drover passes them to and reads them from PostgreSQL: array
// literals (libpqxx 6.4 has no container-to-array conversion) and times as
// Unix microseconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace drover::store {

// A timestamptz parameter holding this text is read by PostgreSQL as the
// start of the transaction, the value of now(): for statements that need
// now() where Citus refuses it (inside CASE in a write).
inline constexpr const char* kNowParameter = "now";

// {"a","b\"c"}: a PostgreSQL text[] literal, every element quoted.
std::string TextArray(const std::vector<std::string>& values);

// Builds one array literal element by element, without a vector of copies.
class ArrayLiteral {
 public:
  ArrayLiteral() : text_("{") {}
  void Add(absl::string_view value);  // quoted, for text[]
  void Add(int64_t value);            // for smallint[] and bigint[]
  // The literal; the builder is spent.
  std::string Finish() &&;

 private:
  void Separate() {
    if (text_.size() > 1) text_.push_back(',');
  }
  std::string text_;
};

int64_t ToUnixMicros(absl::Time t);
absl::Time FromUnixMicros(int64_t micros);

}  // namespace drover::store
