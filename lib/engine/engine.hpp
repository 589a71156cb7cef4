// The kernel engine: load the BPF program with a compiled policy, attach it
// with bpf_links to a cgroup, pin everything so enforcement outlives us,
// replace it atomically, report on it, take it away.
//
// Pins under the pin dir (default /sys/fs/bpf/portauth):
//   link_bind4, link_bind6   the bpf_links (their programs hold every policy map)
//   counters, rule_names, meta   this generation's maps, read by `status`
//   events                   the ring buffer of refused binds, kept across applies
//   event_stats, event_keys  its per-CPU counters and rate limit state, kept across applies
//   binders                  who bound each socket on a reserved port (socket storage), kept across applies
//   sysctl_ports             the ports this engine added to ip_local_reserved_ports
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "engine/compile.hpp"

namespace portauth {

inline constexpr const char* kDefaultPinDir = "/sys/fs/bpf/portauth";

// $PORTAUTH_PIN_DIR when set and not empty, else kDefaultPinDir.
std::string default_pin_dir();

struct EngineTarget {
    std::string pin_dir = kDefaultPinDir;
    std::string cgroup;       // absolute path of a cgroup v2 directory
    std::string policy_dir;   // recorded for status
    std::string tree_hash;    // policy_hash() of what is loaded (policy/snapshot.hpp); recorded for status
    bool fallback = false;    // the last good policy, loaded because the tree was refused
};

struct ApplyReport {
    uint32_t rules = 0;
    bool replaced = false;            // an earlier policy was swapped out
    bool eacces = true;               // denials return EACCES (else EPERM)
    uint8_t features = 0;             // PA_FEATURE_* the loaded program uses (engine/features.hpp)
    std::string cgroup;
    std::set<uint16_t> sysctl_added;  // ports now in ip_local_reserved_ports because of us
    double load_ms = 0, total_ms = 0;
    // Set when the new policy is enforced but a later step (ip_local_reserved_ports,
    // the /run/portauth state file) failed.
    std::optional<Error> after_swap;
};

struct RuleStatus {
    uint32_t id = 0;
    std::string name;
    uint64_t allowed = 0, denied = 0;
};

struct EngineStatus {
    bool active = false;
    std::string problem;       // why not active, or what looks wrong
    std::string cgroup;
    std::string policy_dir;
    uint64_t applied_at = 0;
    uint64_t netns_cookie = 0;
    uint64_t netns_inode = 0;       // 0: not recorded (an earlier engine)
    uint32_t rule_count = 0;
    uint32_t generation = 0;
    bool root_exempt = true;
    bool eacces = true;
    bool features_known = false;   // the engine that loaded it recorded them
    uint8_t features = 0;          // PA_FEATURE_* the loaded program uses (engine/features.hpp)
    uint32_t prog_id_bind4 = 0, prog_id_bind6 = 0;
    std::vector<RuleStatus> rules;
    std::set<uint16_t> sysctl_ports;
    // From the state file apply writes (engine/system.hpp), when it is there
    // and describes this generation.
    std::string tree_hash;
    bool fallback = false;
};

Result<ApplyReport> engine_apply(const KernelImage& image, const EngineTarget& target);
Result<EngineStatus> engine_status(const std::string& pin_dir);
Status engine_unload(const std::string& pin_dir);

// Reads the pinned ring buffer of refused binds; for portwatch and tests.
std::string pin_path(const std::string& pin_dir, const char* name);

}  // namespace portauth
