// libFuzzer target fuzz_sockdiag: portwatch's sock_diag reply parser
// (parse_inet_diag_reply) on arbitrary netlink bytes; see check_sockdiag in
// harness.hpp for what must hold. Seeds: real dump replies and errors
// (fuzz/make_sockdiag_corpus.py).
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    portauth_fuzz::die_on(portauth_fuzz::check_sockdiag(data, size), data, size);
    return 0;
}
