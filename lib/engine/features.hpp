// What the running kernel lets the bind program do, asked of the kernel
// (libbpf's helper probes), never read off its version; and which program
// variant follows. PORTAUTH_BPF_WITHOUT withholds features from a kernel that
// has them, so that every variant is tested on one machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace portauth {

// The optional features the program can do without (PA_FEATURE_* bits).
struct ProgramFeatures {
    uint8_t bits = 0;
    bool has(uint8_t feature) const { return (bits & feature) != 0; }
};

// Probes the kernel: every helper the program cannot do without (an error
// naming the first one missing: "this kernel lacks ..."), then the optional
// ones. Honours PORTAUTH_BPF_WITHOUT (a comma-separated list of the names
// below; an unknown name is an error).
Result<ProgramFeatures> probe_program_features();

// The names PORTAUTH_BPF_WITHOUT takes, required ones included.
std::vector<std::string> feature_names();

// Each optional feature a program with `bits` lacks, as one phrase that
// says what it costs ("without bpf_loop: bounded loops, the same decisions").
std::vector<std::string> describe_missing(uint8_t bits);
// The short names of the optional features in `bits` / not in it.
std::vector<std::string> feature_list(uint8_t bits, bool present);

}  // namespace portauth
