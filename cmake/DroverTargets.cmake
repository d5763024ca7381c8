# Helpers every directory's CMakeLists.txt uses.

# drover_test(NAME SOURCES a.cc b.cc LINK lib... [LABELS l...] [TIMEOUT s])
# A gtest executable and its ctest entry. LINK names the ONE library under
# test (plus test support if it needs it): a unit test that needs more is
# testing across a layer and belongs with the layer above.
# Labels: unit (no database, no processes of ours), integration (PostgreSQL
# or real binaries), e2e, tsan (concurrent pieces tests/run.sh runs under TSan).
# With -DDROVER_ALL_TESTS_IN_ALL=OFF the unit and integration tests are left
# out of `all` (still buildable by name): CI's plain tree runs only the e2e
# and layering tests, and the sanitizer tree builds the others by name.
option(DROVER_ALL_TESTS_IN_ALL "Build the unit and integration tests with `all`" ON)
function(drover_test name)
  cmake_parse_arguments(T "NO_MAIN" "TIMEOUT" "SOURCES;LINK;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  # Under sanitizers the test's own sources (gtest-heavy, not what is under
  # test) build at -O0 and without the fuzzers' coverage: ASan+UBSan at -O1
  # with coverage took 37.9 s for api_test.cc here, at -O0 without 10.6 s.
  # The libraries under test keep -O1 and every check.
  if(DROVER_SANITIZE)
    target_compile_options(${name} PRIVATE -O0)
    if(DROVER_FUZZ)
      target_compile_options(${name} PRIVATE -fno-sanitize=fuzzer-no-link)
    endif()
  endif()
  if(NOT DROVER_ALL_TESTS_IN_ALL AND NOT "e2e" IN_LIST T_LABELS
     AND ("unit" IN_LIST T_LABELS OR "integration" IN_LIST T_LABELS))
    set_target_properties(${name} PROPERTIES EXCLUDE_FROM_ALL TRUE)
  endif()
  if(T_NO_MAIN)
    target_link_libraries(${name} PRIVATE ${T_LINK} GTest::gtest)
  else()
    target_link_libraries(${name} PRIVATE ${T_LINK} GTest::gtest_main)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  if(T_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  endif()
  if(T_TIMEOUT)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
  endif()
endfunction()

# drover_forbid_links(target pattern...)
# Fails configuration when anything `target` links, directly or through
# other targets, starts with one of the patterns (e.g. gRPC:: or
# PkgConfig::PQXX), and prints the chain that brings it in.
function(drover_forbid_links target)
  if(NOT TARGET ${target})
    message(FATAL_ERROR "drover_forbid_links: no target ${target}")
  endif()
  set(queue "${target}")
  set(seen "")
  while(queue)
    list(POP_FRONT queue entry)
    string(REPLACE ">" ";" chain "${entry}")
    list(GET chain -1 node)
    if(node IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${node})
    if(NOT TARGET ${node})
      continue()
    endif()
    get_target_property(type ${node} TYPE)
    set(deps "")
    if(node STREQUAL target AND NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(direct ${node} LINK_LIBRARIES)
      if(direct)
        list(APPEND deps ${direct})
      endif()
    endif()
    get_target_property(iface ${node} INTERFACE_LINK_LIBRARIES)
    if(iface)
      list(APPEND deps ${iface})
    endif()
    foreach(dep IN LISTS deps)
      # $<LINK_ONLY:x> is still linked; other generator expressions are
      # configuration switches we do not use.
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" dep "${dep}")
      if(dep MATCHES "^\\$<" OR dep STREQUAL "")
        continue()
      endif()
      foreach(pattern IN LISTS ARGN)
        string(FIND "${dep}" "${pattern}" at)
        if(at EQUAL 0)
          message(FATAL_ERROR "Layering violation: ${target} must not link ${pattern} "
            "but links it through ${entry}>${dep} (see the layer list in CMakeLists.txt)")
        endif()
      endforeach()
      list(APPEND queue "${entry}>${dep}")
    endforeach()
  endwhile()
endfunction()

# drover_uninstrumented(target)
# Compiles `target` (protoc's generated code) without ASan, UBSan and the
# fuzzers' coverage: it is not ours to find bugs in (like the Debian
# libraries it calls, which are not instrumented either), and instrumenting
# it cost the CI's sanitizer build 2.4 times its plain compile time. Our code
# that calls it is still instrumented. Under TSan it stays instrumented: TSan
# must see every synchronisation, or it reports races that are not there.
function(drover_uninstrumented target)
  if((DROVER_SANITIZE AND NOT DROVER_SANITIZE STREQUAL "thread") OR DROVER_FUZZ)
    target_compile_options(${target} PRIVATE -fno-sanitize=all)
  endif()
endfunction()
