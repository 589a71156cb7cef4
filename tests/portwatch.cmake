# portwatch's tests (tests/portwatch/*): unit tests (no privileges) and
# integration tests (root, a private network namespace per test, real sockets
# owned by numeric test uids, the built portwatch binary).
if(TARGET portwatch_lib)
  file(GLOB PORTWATCH_UNIT_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/portwatch/unit*.cpp)
  add_executable(portwatch_unit_tests ${PORTWATCH_UNIT_SOURCES})
  target_include_directories(portwatch_unit_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/integration)   # fake_journal.hpp
  target_link_libraries(portwatch_unit_tests PRIVATE portwatch_lib GTest::gtest GTest::gtest_main)
  gtest_discover_tests(portwatch_unit_tests TEST_PREFIX "unit." DISCOVERY_TIMEOUT 60)

  file(GLOB PORTWATCH_INTEGRATION_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/portwatch/integration*.cpp)
  add_executable(portwatch_integration_tests
    ${PORTWATCH_INTEGRATION_SOURCES}
    ${CMAKE_CURRENT_SOURCE_DIR}/integration/sandbox.cpp)
  target_include_directories(portwatch_integration_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  target_link_libraries(portwatch_integration_tests PRIVATE portwatch_lib GTest::gtest GTest::gtest_main)
  target_compile_definitions(portwatch_integration_tests PRIVATE
    PORTAUTH_BIN="$<TARGET_FILE:portauth>"
    PORTRESERVE_BIN="$<TARGET_FILE:portreserve>"
    PORTWATCH_BIN="$<TARGET_FILE:portwatch>")
  add_dependencies(portwatch_integration_tests portauth portreserve portwatch)
  gtest_discover_tests(portwatch_integration_tests TEST_PREFIX "integration." DISCOVERY_TIMEOUT 60
    PROPERTIES RUN_SERIAL TRUE TIMEOUT 300)
  # portwatch against the program variants that change what it sees (tests/CMakeLists.txt).
  gtest_discover_tests(portwatch_integration_tests TEST_PREFIX "integration-noloop-noretval." DISCOVERY_TIMEOUT 60
    PROPERTIES RUN_SERIAL TRUE TIMEOUT 300 ENVIRONMENT "PORTAUTH_BPF_WITHOUT=bpf_loop,set_retval")
  gtest_discover_tests(portwatch_integration_tests TEST_PREFIX "integration-nostorage-nov6only." DISCOVERY_TIMEOUT 60
    PROPERTIES RUN_SERIAL TRUE TIMEOUT 300 ENVIRONMENT "PORTAUTH_BPF_WITHOUT=sk_storage,v6only")
endif()
