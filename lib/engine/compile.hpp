// The kernel compiler: Policy -> the contents of every map the BPF program
// reads (see lib/engine/portauth-api.h). Pure; the engine writes the result.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "engine/portauth-api.h"
#include "policy/model.hpp"

namespace portauth {

// Upper bound on entries the expanded tables may hold (byuid port ranges and
// reservation ranges expand to one key per port).
inline constexpr size_t kMaxKernelEntries = 4'000'000;

struct KernelImage {
    std::vector<std::pair<uint32_t, pa_port>> ports;   // only ports the policy mentions
    std::vector<std::pair<pa_addr_key, uint32_t>> byaddr;
    std::vector<std::pair<pa_uid_key, pa_rule_list>> byuid;
    std::vector<std::pair<pa_resv_key, pa_rule_list>> resv;
    std::vector<pa_rule> rules;                        // index = rule id
    std::vector<std::string> rule_names;               // index = rule id
    std::vector<std::pair<pa_acl_key, uint8_t>> acl;
    bool root_exempt = true;
    std::set<uint16_t> reserved_ports;                 // every reserved port, any proto
};

Result<KernelImage> compile_policy(const Policy& policy);

}  // namespace portauth
