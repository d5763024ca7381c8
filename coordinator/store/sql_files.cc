#include "coordinator/store/sql_files.h"

#include <cstdio>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"

namespace drover::store {
namespace {

[[noreturn]] void Die(absl::string_view what, absl::string_view name) {
  std::fprintf(stderr, "coordinator/store/sql: %.*s \"%.*s\" is not embedded\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(name.size()), name.data());
  std::abort();
}

std::string Expand(const absl::flat_hash_map<std::string, std::string>& raw, const std::string& text, int depth) {
  if (depth > 8) Die("fragment nesting too deep in", text.substr(0, 40));
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = text.find("{{", at);
    if (open == std::string::npos) break;
    const size_t close = text.find("}}", open);
    if (close == std::string::npos) Die("unclosed fragment reference in", text.substr(open, 40));
    const std::string name = text.substr(open + 2, close - open - 2);
    auto it = raw.find(name);
    if (it == raw.end()) Die("fragment", name);
    out.append(text, at, open - at);
    out += Expand(raw, it->second, depth + 1);
    at = close + 2;
  }
  out.append(text, at, std::string::npos);
  return out;
}

const absl::flat_hash_map<std::string, std::string>& Expanded() {
  static const auto* expanded = [] {
    absl::flat_hash_map<std::string, std::string> raw;
    for (const SqlFile& f : EmbeddedSqlFiles()) raw.emplace(f.name, f.text);
    auto* out = new absl::flat_hash_map<std::string, std::string>();
    for (const auto& [name, text] : raw) out->emplace(name, Expand(raw, text, 0));
    return out;
  }();
  return *expanded;
}

}  // namespace

const std::string& Sql(absl::string_view name) {
  const auto& files = Expanded();
  auto it = files.find(name);
  if (it == files.end()) Die("statement", name);
  return it->second;
}

}  // namespace drover::store
