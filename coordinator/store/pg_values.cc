#include "coordinator/store/pg_values.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace drover::store {

namespace {
void AppendQuoted(std::string* out, absl::string_view v) {
  out->push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}
}  // namespace

void ArrayLiteral::Add(absl::string_view value) {
  Separate();
  AppendQuoted(&text_, value);
}

void ArrayLiteral::Add(int64_t value) {
  Separate();
  absl::StrAppend(&text_, value);
}

std::string ArrayLiteral::Finish() && {
  text_.push_back('}');
  return std::move(text_);
}

std::string TextArray(const std::vector<std::string>& values) {
  ArrayLiteral out;
  for (const std::string& v : values) out.Add(v);
  return std::move(out).Finish();
}

int64_t ToUnixMicros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromUnixMicros(int64_t micros) { return absl::FromUnixMicros(micros); }

}  // namespace drover::store
