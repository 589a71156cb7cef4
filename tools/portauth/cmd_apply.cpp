#include <cstdlib>

#include "commands.hpp"
#include "common/json.hpp"
#include "engine/engine.hpp"
#include "engine/system.hpp"
#include "output.hpp"
#include "policy/compile.hpp"
#include "policy/tree.hpp"

namespace portauth::cli {

namespace {

Result<std::string> resolve_cgroup(const std::optional<std::string>& requested) {
    if (requested) {
        if (requested->empty() || (*requested)[0] != '/')
            return logic_error("--cgroup needs an absolute path of a cgroup v2 directory, not '" + *requested + "'");
        return *requested;
    }
    return find_cgroup2_mount();
}

}  // namespace

int run_apply(const ApplyOptions& o) {
    auto policy = load_policy(o.common.policy_dir);
    if (!policy) {
        spdlog::error("{}; nothing changed, the previous policy (if any) stays in force", policy.error().message());
        return kExitFailure;
    }
    auto image = compile_policy(*policy);
    if (!image) {
        spdlog::error("{}: {}; nothing changed", o.common.policy_dir, image.error().message());
        return kExitFailure;
    }
    auto cgroup = resolve_cgroup(o.cgroup);
    if (!cgroup) {
        report_error(cgroup.error());
        return o.cgroup ? kExitUsage : kExitFailure;
    }
    EngineTarget target{o.common.pin_dir, *cgroup, o.common.policy_dir};
    auto report = engine_apply(*image, target);
    if (!report) {
        spdlog::error("{}; the previous policy (if any) stays in force", report.error().message());
        return kExitFailure;
    }
    // Entries someone other than root can change were applied in their closed
    // form (lib/policy/model.hpp, DisabledEntry): say which, and exit 2.
    for (const auto& d : policy->disabled)
        spdlog::warn("{}/{}: {}", o.common.policy_dir, d.origin.file, d.reason);
    if (report->after_swap) {
        // The new policy is enforced; a step after the swap failed.
        spdlog::error("the policy is applied, but {}", report->after_swap->message());
        return kExitFailure;
    }
    if (o.common.json) {
        JsonWriter j;
        j.begin_object()
            .field("policy_dir", o.common.policy_dir)
            .field("cgroup", report->cgroup)
            .field("pin_dir", o.common.pin_dir)
            .field("rules", report->rules)
            .field("replaced", report->replaced)
            .field("denial_errno", report->eacces ? "EACCES" : "EPERM")
            .field("ip_local_reserved_ports_added", format_port_set(report->sysctl_added))
            .field("load_ms", report->load_ms)
            .field("total_ms", report->total_ms)
            .end_object();
        std::printf("%s\n", j.str().c_str());
    } else {
        std::printf("portauth: %s %u rule%s from %s to cgroup %s in %.1f ms\n",
                    report->replaced ? "replaced the policy with" : "applied", report->rules,
                    report->rules == 1 ? "" : "s", o.common.policy_dir.c_str(), report->cgroup.c_str(), report->total_ms);
        if (!report->sysctl_added.empty())
            std::printf("portauth: kept out of automatic port selection (ip_local_reserved_ports): %s\n",
                        format_port_set(report->sysctl_added).c_str());
        if (!report->eacces)
            std::printf("portauth: this kernel has no bpf_set_retval; refused binds fail with EPERM\n");
    }
    if (!policy->disabled.empty()) {
        spdlog::warn("applied with {} entr{} disabled (failing closed); the rest of the policy is enforced",
                     policy->disabled.size(), policy->disabled.size() == 1 ? "y" : "ies");
        return kExitApplyDisabled;
    }
    return kExitOk;
}

int run_unload(const Common& o) {
    auto st = engine_status(o.pin_dir);
    const bool was_active = st && st->active;
    if (Status s = engine_unload(o.pin_dir); !s) {
        report_error(s.error());
        return kExitFailure;
    }
    if (!o.json)
        std::printf("portauth: %s\n", was_active ? ("unloaded the policy pinned at " + o.pin_dir).c_str()
                                                 : ("no policy was loaded at " + o.pin_dir + "; cleaned up").c_str());
    return kExitOk;
}

int reapply_after_edit(const Common& o, const char* tool) {
    auto st = engine_status(o.pin_dir);
    if (!st || !st->active) {
        std::printf("%s: enforcement is not active; the change takes effect at the next 'portauth apply'\n", tool);
        return kExitOk;
    }
    if (st->policy_dir != o.policy_dir) {
        std::printf("%s: enforcement is active from %s, not %s; not re-applied\n", tool, st->policy_dir.c_str(),
                    o.policy_dir.c_str());
        return kExitOk;
    }
    ApplyOptions again;
    again.common = o;
    again.common.json = false;
    again.cgroup = st->cgroup;
    return run_apply(again);
}

}  // namespace portauth::cli
