// The last good policy: every successful apply keeps the policy it loaded
// (policy/snapshot.hpp's text form, with its hash, when and where it was
// applied) in a root-only state dir, one file per pin dir:
//   /var/lib/portauth/sys-fs-bpf-portauth.policy   (dir 0700, file 0600, root)
// When the tree is refused and nothing is enforced (a boot), apply loads it
// instead (tools/portauth/cmd_apply.cpp), and `check` answers from it.
// `unload` keeps it: failing closed at a boot with a refused tree is what a
// security tool owes; `apply --no-fallback` is for those who want nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "engine/engine.hpp"
#include "policy/model.hpp"

namespace portauth {

inline constexpr const char* kDefaultStateDir = "/var/lib/portauth";

// $PORTAUTH_STATE_DIR when set and not empty, else kDefaultStateDir.
std::string state_dir();
std::string last_good_path(const std::string& pin_dir);

struct LastGood {
    Policy policy;            // Policy.dir: the policy dir it was read from
    std::string hash;         // policy_hash(policy)
    int64_t saved_at = 0;     // seconds since the epoch
    std::string cgroup;       // where it was enforced
};

// Atomic (a temp file, fsync, rename): a crash leaves the old one or the new one.
Status save_last_good(const Policy& policy, const std::string& cgroup, const std::string& pin_dir);
// ENOENT (Error.err) when none was saved. Refuses a file or dir that is not
// root's or that group or other could write, and one whose hash does not match.
Result<LastGood> load_last_good(const std::string& pin_dir);

// What the kernel enforces at a pin dir, as a Policy: the last good policy
// when the engine is active and that file's hash is the enforced one's.
// `check`, `status` and portwatch answer for it rather than for the files.
struct EnforcedPolicy {
    std::optional<Policy> policy;   // unset: not on record
    std::string why_not;            // then: one sentence saying why
};
EnforcedPolicy enforced_policy(const EngineStatus& status, const std::string& pin_dir);

}  // namespace portauth
