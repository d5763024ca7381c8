// The PostgreSQL store's statements: coordinator/store/sql/*.sql, embedded in
// the binary at build time (embed_sql_files.cmake). A statement may include a
// fragment file by name, written {{name}}; Sql() returns it expanded. Any
// "{{" is read so: write an array literal such as '{{1,2}}' as ARRAY[...].
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace drover::store {

struct SqlFile {
  const char* name;  // the file name without ".sql"
  const char* text;
};

// Generated: every file of coordinator/store/sql/, by name.
const std::vector<SqlFile>& EmbeddedSqlFiles();

// The text of sql/<name>.sql with its fragments expanded. The files are part
// of the binary, so an unknown name (or fragment) is a programming error: it
// aborts, naming it.
const std::string& Sql(absl::string_view name);

}  // namespace drover::store
