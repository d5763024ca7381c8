# cmake -DDIR=<dir> -DOUT=<file.cc> -DHEADER=<include> -DFUNCTION=<name>
#       -DTYPE=<struct> [-DSTRIP_EXTENSION=ON] -P embed_sql_files.cmake
# Writes OUT: a C++ source whose FUNCTION returns every DIR/*.sql file as
# TYPE{name, text}, sorted by name, so SQL kept in files ships inside the
# binary (migrations/ for the migrator, coordinator/store/sql/ for the
# store's statements). With STRIP_EXTENSION the name drops ".sql".
file(GLOB files RELATIVE ${DIR} ${DIR}/*.sql)
list(SORT files)
set(body "// Generated from ${DIR} by embed_sql_files.cmake. Do not edit.\n#include \"${HEADER}\"\n\nnamespace drover::store {\n\nconst std::vector<${TYPE}>& ${FUNCTION}() {\n  static const auto* files = new std::vector<${TYPE}>{\n")
foreach(f IN LISTS files)
  file(READ ${DIR}/${f} content)
  string(FIND "${content}" ")drover_sql\"" bad)
  if(NOT bad EQUAL -1)
    message(FATAL_ERROR "${f} contains the raw-string delimiter")
  endif()
  set(name "${f}")
  if(STRIP_EXTENSION)
    string(REGEX REPLACE "\\.sql$" "" name "${f}")
  endif()
  string(APPEND body "      {\"${name}\", R\"drover_sql(${content})drover_sql\"},\n")
endforeach()
string(APPEND body "  };\n  return *files;\n}\n\n}  // namespace drover::store\n")
file(WRITE ${OUT}.tmp "${body}")
file(RENAME ${OUT}.tmp ${OUT})
