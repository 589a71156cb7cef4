# dropto's tests: dropto_lib and lib/common only, nothing of the policy or the engine.
# Unit tests: no privileges; the kernel and the user database are fakes.
file(GLOB DROPTO_UNIT_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/unit/dropto_*.cpp)
add_executable(dropto_unit_tests ${DROPTO_UNIT_SOURCES})
target_link_libraries(dropto_unit_tests PRIVATE dropto_lib GTest::gtest GTest::gtest_main)
gtest_discover_tests(dropto_unit_tests TEST_PREFIX "unit." DISCOVERY_TIMEOUT 60)

# Integration tests: root, real fork/exec of the built binary, temporary users.
file(GLOB DROPTO_INTEGRATION_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/integration/dropto_*.cpp)
if(DROPTO_INTEGRATION_SOURCES)
  add_executable(dropto_integration_tests ${DROPTO_INTEGRATION_SOURCES})
  target_link_libraries(dropto_integration_tests PRIVATE dropto_lib GTest::gtest GTest::gtest_main)
  target_compile_definitions(dropto_integration_tests PRIVATE DROPTO_BIN="$<TARGET_FILE:dropto>")
  add_dependencies(dropto_integration_tests dropto)
  gtest_discover_tests(dropto_integration_tests TEST_PREFIX "integration." DISCOVERY_TIMEOUT 60
    PROPERTIES RUN_SERIAL TRUE TIMEOUT 120)
endif()
