#include "proto/wire/proto_utf8.h"

#include <map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/wire_format_lite.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace drover::wire {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

// Deep enough for any drover message; a hostile nesting ends the search.
constexpr int kMaxDepth = 16;

std::string Shown(absl::string_view bytes) {
  constexpr size_t kShown = 40;
  return absl::StrCat("\"", absl::CHexEscape(bytes.substr(0, kShown)), bytes.size() > kShown ? "...\"" : "\"");
}

std::optional<std::string> Find(const Descriptor* type, absl::string_view wire, const std::string& prefix,
                                int depth) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(wire.data()),
                                            static_cast<int>(wire.size()));
  std::map<int, int> seen;  // occurrences so far of each repeated field
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return std::nullopt;
    if (WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&in, tag)) return std::nullopt;
      continue;
    }
    uint32_t length = 0;
    std::string bytes;
    if (!in.ReadVarint32(&length) || !in.ReadString(&bytes, static_cast<int>(length))) return std::nullopt;
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const FieldDescriptor* field = type->FindFieldByNumber(number);
    if (field == nullptr) continue;  // unknown fields are kept as bytes
    std::string path = absl::StrCat(prefix, field->name());
    if (field->is_repeated()) absl::StrAppend(&path, "[", seen[number]++, "]");
    if (field->type() == FieldDescriptor::TYPE_STRING &&
        !google::protobuf::internal::IsStructurallyValidUTF8(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::StrCat(path, " ", Shown(bytes), ": not valid UTF-8");
    }
    if (field->type() == FieldDescriptor::TYPE_MESSAGE && depth < kMaxDepth) {
      if (std::optional<std::string> inner = Find(field->message_type(), bytes, path + ".", depth + 1)) {
        return inner;
      }
    }
  }
}

}  // namespace

std::optional<std::string> FindInvalidUtf8(const Descriptor* type, absl::string_view wire) {
  return Find(type, wire, "", 0);
}

void RouteProtobufLogs() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char* file, int line,
                                     const std::string& message) {
    if (absl::StrContains(message, "invalid UTF-8 data")) return;
    const char* name = level >= google::protobuf::LOGLEVEL_ERROR     ? "ERROR"
                       : level == google::protobuf::LOGLEVEL_WARNING ? "WARN"
                                                                     : "INFO";
    Log(name, absl::StrCat("protobuf ", file, ":", line, ": ", message));
  });
}

}  // namespace drover::wire
