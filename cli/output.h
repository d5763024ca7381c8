// How droverctl shows things: aligned tables and key/value blocks for people,
// protobuf JSON for scripts, and the small formatters both share.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"
#include "drover/v1/types.pb.h"

namespace drover::cli {

// Columns padded to their widest cell (by display width, so "█" counts once).
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "Key:   value" lines with the values aligned; a value holding newlines
// continues under itself.
class KeyValues {
 public:
  void Add(std::string key, std::string value) { rows_.emplace_back(std::move(key), std::move(value)); }
  std::string Render() const;

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

// The message in protobuf's JSON mapping with the .proto field names and every
// primitive field present (defaults included), so the shape does not depend on
// the values. `pretty`: indented over several lines; else one line.
std::string ToJson(const google::protobuf::Message& message, bool pretty = true);

// Terminal columns a UTF-8 string takes (code points; no wide characters here).
size_t DisplayWidth(const std::string& s);
std::string PadRight(const std::string& s, size_t width);
std::string PadLeft(const std::string& s, size_t width);

// "██████░░░░": `part` of `total` as `width` cells; at least one filled cell
// when part > 0, so a version with few agents still shows.
std::string Bar(int64_t part, int64_t total, int width);

// "2026-03-01T12:00:05Z"; "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& t);
// "12s ago", "3m ago", "2h ago", "5d ago"; "-" when unset.
std::string FormatAge(const google::protobuf::Timestamp& t, absl::Time now);
// "1m30s" (absl's form).
std::string FormatDuration(const google::protobuf::Duration& d);

std::string HealthName(v1::Health health);          // "healthy", "unhealthy", "unknown"
std::string ResultName(v1::UpdateResult result);    // "succeeded", "failed", "rolled back"
// What a schedule state tells an operator, e.g. "schedule file missing"; ""
// for a state worth no remark (ok, none, unspecified).
std::string ScheduleNote(v1::ScheduleState state);

// "61.7%".
std::string Percent(double value);

}  // namespace drover::cli
