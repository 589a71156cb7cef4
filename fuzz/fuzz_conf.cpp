// libFuzzer target fuzz_conf: see check_conf in harness.hpp for what must hold.
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 4096) return 0;   // the parsers' limits are tested elsewhere; keep executions fast
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    portauth_fuzz::die_on(portauth_fuzz::check_conf(text), data, size);
    return 0;
}
