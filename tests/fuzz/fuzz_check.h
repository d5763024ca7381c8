// What the harnesses assert: an invariant that fails prints what held and
// aborts, which libFuzzer records as a crash with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"

#define FUZZ_CHECK(cond, detail)                                                            \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      const std::string fuzz_detail_ = (detail);                                            \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                   fuzz_detail_.c_str());                                                   \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace drover::fuzz {

inline absl::string_view AsText(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// Bytes for a failure message: escaped, shortened.
inline std::string Show(absl::string_view s) {
  return "\"" + absl::CHexEscape(s.substr(0, 200)) + (s.size() > 200 ? "...\"" : "\"");
}

// For LLVMFuzzerInitialize. Protobuf logs every string field that is not
// UTF-8; refusing those is the harness's job, the log lines only slow the run
// down. With DROVER_FUZZ_WRITE_SEEDS=DIR, a harness whose seeds are made by
// code (`write_seeds`, or none) writes them to DIR and exits.
inline int Initialize(void (*write_seeds)(const std::string& dir) = nullptr) {
  google::protobuf::SetLogHandler(nullptr);
  if (const char* dir = std::getenv("DROVER_FUZZ_WRITE_SEEDS"); dir != nullptr && write_seeds != nullptr) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

}  // namespace drover::fuzz
