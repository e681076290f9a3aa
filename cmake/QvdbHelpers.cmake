# Helpers so that each layer lists its sources once (after abseil's
# CMake/AbseilHelpers.cmake).

# qvdb_library(NAME name SRCS a.cc b.cc DEPS dep1 dep2)
function(qvdb_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

# qvdb_test(NAME name SRCS a_test.cc DEPS lib [LABELS l1 l2])
# Tests run from the repository root so that ../shared/datasets resolves.
function(qvdb_test)
  if(NOT QVDB_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  if(TARGET qvdb_absl_tsan)  # QVDB_SANITIZE=thread (CMakeLists.txt)
    target_link_libraries(${ARG_NAME} PRIVATE qvdb_absl_tsan)
  endif()
  # `ninja concurrency_tests`: what the TSan stage of scripts/test.sh --all
  # builds and runs (ctest -L concurrency).
  if("concurrency" IN_LIST ARG_LABELS)
    if(NOT TARGET concurrency_tests)
      add_custom_target(concurrency_tests)
    endif()
    add_dependencies(concurrency_tests ${ARG_NAME})
  endif()
  set(props "")
  if(ARG_LABELS)
    set(props PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${ARG_NAME}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    DISCOVERY_TIMEOUT 60
    ${props})
endfunction()
