// libFuzzer target fuzz_events: decode_event on arbitrary ring buffer records.
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    portauth_fuzz::die_on(portauth_fuzz::check_events(data, size), data, size);
    return 0;
}
