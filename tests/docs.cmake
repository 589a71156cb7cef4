# Documentation checks (tests/docs/docs_test.cpp): the man pages render without
# warnings; every long option that --help prints is documented in the tool's man
# page and completed by its bash, zsh and fish completions; every subcommand is in
# the SYNOPSIS and the completions; every exit status is in portauth(8).
# No privileges; needs groff (and bash, zsh, fish for the completion checks).
add_executable(docs_tests ${CMAKE_CURRENT_SOURCE_DIR}/docs/docs_test.cpp)
target_link_libraries(docs_tests PRIVATE GTest::gtest GTest::gtest_main)
target_compile_definitions(docs_tests PRIVATE
  SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  PORTAUTH_BIN="$<TARGET_FILE:portauth>"
  PORTRESERVE_BIN="$<TARGET_FILE:portreserve>")
add_dependencies(docs_tests portauth portreserve)
if(TARGET dropto)
  target_compile_definitions(docs_tests PRIVATE DROPTO_BIN="$<TARGET_FILE:dropto>")
  add_dependencies(docs_tests dropto)
endif()
gtest_discover_tests(docs_tests TEST_PREFIX "unit." DISCOVERY_TIMEOUT 60)
