// The policy portwatch watches, and what it knows of enforcement.
//
// The tree at --policy-dir, merged with the authbind tree that goes with it
// as portauth apply merges it (policy/tree.hpp, default_authbind_dir); but when the tree is refused (a
// root-owned file broken by a restore, a typo), the policy the kernel still
// enforces from that dir - the last good policy, engine/last_good.hpp - so
// that a broken tree does not turn detection off while enforcement goes on.
// Only when neither can be had does portwatch stop (exit 2 / UNKNOWN).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "engine/engine.hpp"
#include "policy/model.hpp"

namespace portauth::watch {

struct WatchedPolicy {
    Policy policy;
    bool tree_refused = false;   // policy is the enforced one, standing in for the tree
    std::string note;            // then: one sentence for the log, naming the tree's problem (escaped)
};

// The tree's own error when neither can be had.
Result<WatchedPolicy> load_watched_policy(const std::string& policy_dir, const std::string& pin_dir);

}  // namespace portauth::watch
