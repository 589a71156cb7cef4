# Documentation checks (tests/docs/): the man pages render without warnings;
# every long option that --help prints is documented in the tool's man page and
# completed by its bash, zsh and fish completions; every subcommand is in the
# SYNOPSIS and the completions; every exit status is in the man pages; every
# tool has --version; colour only on a terminal and never with NO_COLOR; the
# --json keys are the ones docs/json.md documents.
# unit.*: no privileges (the cases that need a root-owned policy tree skip
# without root); integration.DocsJson.*: root and the kernel, in a sandbox.
# Needs groff (and bash, zsh, fish for the completion checks, python3 for the
# JSON checks).
add_executable(docs_tests ${CMAKE_CURRENT_SOURCE_DIR}/docs/docs_test.cpp)
target_link_libraries(docs_tests PRIVATE GTest::gtest GTest::gtest_main)
target_compile_definitions(docs_tests PRIVATE
  SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  PORTAUTH_BIN="$<TARGET_FILE:portauth>"
  PORTRESERVE_BIN="$<TARGET_FILE:portreserve>")
add_dependencies(docs_tests portauth portreserve)
foreach(tool dropto portwatch authbind)
  if(TARGET ${tool})
    string(TOUPPER ${tool} _upper)
    target_compile_definitions(docs_tests PRIVATE ${_upper}_BIN="$<TARGET_FILE:${tool}>")
    add_dependencies(docs_tests ${tool})
  endif()
endforeach()
gtest_discover_tests(docs_tests TEST_PREFIX "unit." DISCOVERY_TIMEOUT 60)

# The pure formatters behind portauth's human and JSON output.
add_executable(docs_output_tests ${CMAKE_CURRENT_SOURCE_DIR}/docs/output_test.cpp)
target_include_directories(docs_output_tests PRIVATE ${PROJECT_SOURCE_DIR}/tools/portauth)
target_link_libraries(docs_output_tests PRIVATE portauth_cli GTest::gtest GTest::gtest_main)
gtest_discover_tests(docs_output_tests TEST_PREFIX "unit." DISCOVERY_TIMEOUT 60)

# docs/json.md against the code that writes the JSON and the tools' real output.
# Debian's own python3 first (a pyenv shim on PATH is this machine's, not the
# test guest's: scripts/ci-kernels.sh runs these tests in a Debian guest).
find_program(DOCS_PYTHON3 python3 HINTS /usr/bin)
if(DOCS_PYTHON3)
  set(_json_args --source ${PROJECT_SOURCE_DIR}
    --portauth $<TARGET_FILE:portauth> --portreserve $<TARGET_FILE:portreserve>)
  if(TARGET portwatch)
    list(APPEND _json_args --portwatch $<TARGET_FILE:portwatch>)
  endif()
  add_test(NAME unit.DocsJson.KeysMatchTheDocumentation
    COMMAND ${DOCS_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/docs/json_keys.py ${_json_args})
  set_tests_properties(unit.DocsJson.KeysMatchTheDocumentation PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
  # apply --json and an active status --json need the kernel: root, a scratch
  # child cgroup, a scratch bpffs, a private network namespace (skips without root).
  add_test(NAME integration.DocsJson.ApplyAndActiveStatusKeys
    COMMAND ${DOCS_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/docs/json_keys.py --sandbox
            --sandbox-bin $<TARGET_FILE:portauth-sandbox> ${_json_args})
  set_tests_properties(integration.DocsJson.ApplyAndActiveStatusKeys PROPERTIES
    TIMEOUT 120 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()
