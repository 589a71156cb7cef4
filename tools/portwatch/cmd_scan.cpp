// portwatch scan: one pass, for cron.
#include <spdlog/spdlog.h>

#include "policy/tree.hpp"
#include "portwatch/commands.hpp"
#include "portwatch/watcher.hpp"

namespace portauth::watch {

void log_pass(const PassOutcome& pass) {
    for (const auto& o : pass.squats) {
        const auto& r = o.record;
        if (o.is_new)
            spdlog::warn("squatter: {} user {} comm '{}' exe '{}' on {} ({})", describe(r), r.user, r.comm, r.exe, r.entry,
                         o.recorded ? "first seen" : "not recorded");
        if (o.action_result) spdlog::warn("action {} on {}: {}", r.action, describe(r), *o.action_result);
        if (o.hook_error) spdlog::error("{}", o.hook_error->message());
        else if (o.hook_status && *o.hook_status != 0) spdlog::warn("the hook exited with status {} for {}", *o.hook_status, describe(r));
    }
    if (pass.pruned > 0) spdlog::info("pruned {} events past retention", pass.pruned);
}

int run_scan(const ScanOptions& o) {
    auto settings = settings_from(o);
    if (!settings) {
        spdlog::error("{}", settings.error().message());
        return kExitError;
    }
    auto policy = load_policy(o.policy_dir);
    if (!policy) {
        spdlog::error("{}", policy.error().message());
        return kExitError;
    }
    auto db = Database::open(o.db, {OpenOptions::Access::write, true});
    if (!db && record_damaged(db.error())) {   // never written to: the admin moves it aside
        spdlog::error("{}", db.error().message());
        return kExitError;
    }
    constexpr const char* kNotRecorded = "scanning all the same: squatters are reported here, not recorded";
    if (!db) spdlog::error("{}; {}", db.error().message(), kNotRecorded);
    auto result = scan(*policy);
    if (!result) {
        spdlog::error("cannot scan: {}", result.error().message());
        return kExitError;
    }
    if (result->skipped) spdlog::debug("no reservations in '{}': nothing to scan", o.policy_dir);
    SquatMemory memory;
    auto pass = handle_scan(db ? &*db : nullptr, std::move(*result), *settings, memory);
    if (pass.record_error) spdlog::error("{}; {}", pass.record_error->message(), kNotRecorded);
    log_pass(pass);
    if (!pass.squats.empty()) return kExitSquatters;
    return db && !pass.record_error ? kExitClean : kExitError;
}

}  // namespace portauth::watch
