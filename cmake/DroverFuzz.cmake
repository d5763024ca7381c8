# libFuzzer builds (-DDROVER_FUZZ=ON, clang only): see tests/fuzz/README.md.
#
# Everything of ours is compiled with -fsanitize=fuzzer-no-link (coverage for
# libFuzzer, no main) plus ASan and UBSan; only the harness executables link
# libFuzzer's main. The Debian libraries (protobuf, abseil, gRPC) are not
# instrumented: the fuzzers find bugs in our code, not theirs.
#
# With -DDROVER_SANITIZE=address,undefined as well, one tree serves both the
# sanitizer test run and the fuzzers (tests/run.sh does that in CI: one
# instrumented build of everything instead of two); the tests then also carry
# the coverage counters, which costs them little.

if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "DROVER_FUZZ needs clang (libFuzzer): configure a separate build directory with "
    "-DCMAKE_CXX_COMPILER=clang++-14 (Debian: apt-get install clang-14 libclang-rt-14-dev); "
    "this one uses ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER}")
endif()
if(DROVER_SANITIZE STREQUAL "address,undefined")
  # The top CMakeLists.txt already adds ASan and UBSan to everything.
  add_compile_options(-fsanitize=fuzzer-no-link)
elseif(DROVER_SANITIZE)
  message(FATAL_ERROR "DROVER_FUZZ runs under ASan+UBSan: DROVER_SANITIZE must be empty or "
    "address,undefined, not '${DROVER_SANITIZE}'")
else()
  set(_drover_fuzz_flags -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_compile_options(-fsanitize=fuzzer-no-link ${_drover_fuzz_flags})
  add_link_options(${_drover_fuzz_flags})
endif()

# clang's -Wall warns that OperatorService's raw-callback handlers hide the
# synchronous overloads of the same names in gRPC's generated bases: that is
# the intent (gRPC's WithRawCallbackMethod_* bases turn the synchronous ones
# into aborts), and GCC, the project's compiler, does not warn.
add_compile_options(-Wno-overloaded-virtual)

add_custom_target(drover-fuzzers)

# drover_fuzzer(NAME SOURCES a.cc ... LINK lib...)
# A libFuzzer harness `NAME` (bin/NAME): the sources define
# LLVMFuzzerTestOneInput; LINK names the libraries under test. Its seed corpus
# is tests/fuzz/corpus/NAME/ and tests/fuzz.sh runs it; `drover-fuzzers`
# builds every harness.
function(drover_fuzzer name)
  cmake_parse_arguments(F "" "" "SOURCES;LINK" ${ARGN})
  if(NOT F_SOURCES)
    message(FATAL_ERROR "drover_fuzzer(${name}): SOURCES is required")
  endif()
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LINK})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR})
  add_dependencies(drover-fuzzers ${name})
  if(NOT IS_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
    message(FATAL_ERROR "drover_fuzzer(${name}): no seed corpus tests/fuzz/corpus/${name}/")
  endif()
endfunction()
