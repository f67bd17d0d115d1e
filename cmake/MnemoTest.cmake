# mnemo_add_library(name sources... DEPS libs...): one layer of src/ as a static library.
function(mnemo_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(mnemo_${name} STATIC ${ARG_SOURCES})
  target_include_directories(mnemo_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(mnemo_${name} PUBLIC ${ARG_DEPS})
  mnemo_set_warnings(mnemo_${name})
endfunction()

# mnemo_add_test(name source DEPS libs...): a GoogleTest binary registered with CTest.
function(mnemo_add_test name source)
  if(NOT MNEMO_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "DEPS;LABELS" ${ARGN})
  add_executable(${name} ${source})
  # testing/: helpers shared by tests, fuzzers and benchmarks, never by src/.
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  mnemo_set_warnings(${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${ARG_LABELS}")
endfunction()
