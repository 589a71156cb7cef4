#include "portwatch/policy_source.hpp"

#include "common/escape.hpp"
#include "engine/engine.hpp"
#include "engine/last_good.hpp"
#include "policy/tree.hpp"

namespace portauth::watch {

Result<WatchedPolicy> load_watched_policy(const std::string& policy_dir, const std::string& pin_dir) {
    // The same trees portauth apply merges for this policy dir (policy/tree.hpp).
    auto tree = load_policy(PolicySources{policy_dir, default_authbind_dir(policy_dir)});
    if (tree) return WatchedPolicy{std::move(*tree), false, {}};
    auto st = engine_status(pin_dir);
    if (!st || !st->active || st->policy_dir != policy_dir) return tree.error();
    auto enforced = enforced_policy(*st, pin_dir);
    if (!enforced.policy) return tree.error();
    WatchedPolicy w{std::move(*enforced.policy), true, {}};
    w.note = "the tree at '" + escape_untrusted(policy_dir) + "' is refused (" + escape_untrusted(tree.error().message()) + "); watching the policy the kernel enforces from it (generation " +
             std::to_string(st->generation) + (st->fallback ? ", the last good policy as a fallback" : "") + ") until it is fixed";
    return w;
}

}  // namespace portauth::watch
