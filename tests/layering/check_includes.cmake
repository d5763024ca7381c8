# cmake -DROOT=<source dir> -P check_includes.cmake
# Fails when a file of a layer includes a header of a library that layer
# must not use. The link graph is checked at configure time
# (drover_forbid_links); this catches header-only uses the linker cannot see.
cmake_minimum_required(VERSION 3.25)

set(io_headers "grpcpp/|grpc/|grpc\\+\\+/|google/protobuf/|pqxx/|prometheus/|curl/|openssl/|drover/v1/")
# dir-glob | forbidden include regex
set(rules
  "common/*|${io_headers}"
  "coordinator/rollout/*|${io_headers}|coordinator/(store|api|ingest|metrics)/"
  "coordinator/store/*|grpcpp/|grpc/|google/protobuf/|prometheus/|drover/v1/|coordinator/(api|ingest|metrics)/"
  "coordinator/ingest/*|grpcpp/|grpc/|google/protobuf/|pqxx/|drover/v1/|coordinator/api/|coordinator/store/pg_"
  "coordinator/api/*|pqxx/|coordinator/store/pg_|coordinator/store/migrator"
  "coordinator/watch/*|pqxx/|grpcpp/|drover/v1/|coordinator/store/pg_|coordinator/store/migrator"
  "agent-updater/triggers/schedule.*|${io_headers}"
  "agent-updater/triggers/decision*|${io_headers}"
  "agent-updater/daemon/*|${io_headers}"
  "agent-updater/kube/kube_schedule*|${io_headers}"
  "agent-updater/kube/workload.*|${io_headers}"
  "agent-updater/kube/image_patch*|${io_headers}"
  "agent-updater/kube/kube_api*|grpcpp/|grpc/|grpc\\+\\+/|google/protobuf/|pqxx/|prometheus/|drover/v1/"
  "agent-updater/kube/workload_installer*|grpcpp/|grpc/|grpc\\+\\+/|google/protobuf/|pqxx/|prometheus/|drover/v1/"
  "agent-updater/oci/*|grpcpp/|grpc/|grpc\\+\\+/|google/protobuf/|pqxx/|prometheus/|drover/v1/"
  "proto/wire/*|grpcpp/|grpc/|grpc\\+\\+/|pqxx/|prometheus/|curl/|openssl/|coordinator/|agent-updater/|cli/")
# Files that are not part of their directory's layer (yet).
set(exempt)

set(failures "")
foreach(rule IN LISTS rules)
  string(FIND "${rule}" "|" bar)
  string(SUBSTRING "${rule}" 0 ${bar} glob)
  math(EXPR bar "${bar} + 1")
  string(SUBSTRING "${rule}" ${bar} -1 forbidden)
  file(GLOB files RELATIVE ${ROOT} ${ROOT}/${glob})
  foreach(f IN LISTS files)
    if(NOT f MATCHES "\\.(h|cc)$" OR f IN_LIST exempt)
      continue()
    endif()
    file(STRINGS ${ROOT}/${f} includes REGEX "^[ \t]*#[ \t]*include")
    foreach(line IN LISTS includes)
      if(line MATCHES "#[ \t]*include[ \t]*[<\"](${forbidden})")
        list(APPEND failures "${f}: ${line}")
      endif()
    endforeach()
  endforeach()
endforeach()

if(failures)
  list(JOIN failures "\n  " text)
  message(FATAL_ERROR "Layering violation: includes of what this layer may not use:\n  ${text}")
endif()
message(STATUS "layering_includes: ok")
