#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "commands.hpp"
#include "common/json.hpp"
#include "engine/engine.hpp"
#include "engine/features.hpp"
#include "engine/last_good.hpp"
#include "engine/system.hpp"
#include "output.hpp"
#include "engine/compile.hpp"
#include "policy/snapshot.hpp"
#include "policy/tree.hpp"

#ifdef PORTAUTH_HAVE_PORTWATCH
#include "common/escape.hpp"
#include "portwatch/scanner.hpp"
#endif

namespace portauth::cli {

namespace {

Result<std::string> resolve_cgroup(const std::optional<std::string>& requested) {
    if (requested) {
        if (requested->empty() || (*requested)[0] != '/')
            return logic_error("--cgroup needs an absolute path of a cgroup v2 directory, not '" + *requested + "'");
        if (Status s = require_cgroup2_dir(*requested); !s) return s.error();
        return *requested;
    }
    return find_cgroup2_mount();
}

}  // namespace

namespace {

// The fields every journal entry of apply carries (docs/journal.md).
std::vector<JournalField> where(const ApplyOptions& o) {
    return {{"PORTAUTH_POLICY_DIR", o.common.policy_dir}, {"PORTAUTH_PIN_DIR", o.common.pin_dir}};
}

// "/etc/portauth", or "/etc/portauth and /etc/authbind" when an authbind tree is merged in.
std::string trees_named(const Policy& policy) {
    return policy.authbind_dir.empty() ? policy.dir : policy.dir + " and " + policy.authbind_dir;
}

void print_report(const ApplyOptions& o, const ApplyReport& report, const Policy& policy, const std::string& hash,
                  bool fallback) {
    char ms[32];
    (void)std::snprintf(ms, sizeof ms, "%.1f", report.total_ms);
    const std::string summary = std::string(fallback ? "FALLBACK: enforcing the last good policy," : report.replaced ? "replaced the policy with" : "applied") +
                                " " + std::to_string(report.rules) + (report.rules == 1 ? " rule" : " rules") + " from " + trees_named(policy) +
                                " to cgroup " + report.cgroup + " in " + ms + " ms";
    auto fields = where(o);
    fields.insert(fields.end(), {{"PORTAUTH_CGROUP", report.cgroup},
                                 {"PORTAUTH_RULES", std::to_string(report.rules)},
                                 {"PORTAUTH_TREE_HASH", hash},
                                 {"PORTAUTH_FALLBACK", fallback ? "1" : "0"},
                                 {"PORTAUTH_REPLACED", report.replaced ? "1" : "0"}});
    if (o.common.json) {
        (void)announce_stdout(Priority::info, "applied", summary, fields);
        JsonWriter j;
        j.begin_object().field("policy_dir", policy.dir);
        if (policy.authbind_dir.empty()) j.key("authbind_dir").null();
        else j.field("authbind_dir", policy.authbind_dir);
        j.field("cgroup", report.cgroup)
            .field("pin_dir", o.common.pin_dir)
            .field("rules", report.rules)
            .field("replaced", report.replaced)
            .field("denial_errno", report.eacces ? "EACCES" : "EPERM")
            .field("program_lacks", feature_list(report.features, false))
            .field("ip_local_reserved_ports_added", format_port_set(report.sysctl_added))
            .field("tree_hash", hash)
            .field("fallback", fallback)
            .field("load_ms", report.load_ms)
            .field("total_ms", report.total_ms)
            .end_object();
        std::printf("%s\n", j.str().c_str());
        return;
    }
    if (!o.common.json && announce_stdout(Priority::info, "applied", summary, fields)) std::printf("portauth: %s\n", summary.c_str());
    if (!report.sysctl_added.empty())
        std::printf("portauth: kept out of automatic port selection (ip_local_reserved_ports): %s\n",
                    format_port_set(report.sysctl_added).c_str());
    for (const auto& m : describe_missing(report.features)) std::printf("portauth: this kernel's program runs %s\n", m.c_str());
}

// A reservation stops new binds; a socket that already holds the port keeps
// it. Say which, from the socket dump portwatch uses (a warning: the policy is
// applied all the same).
void say_squatters(const Policy& policy, const std::string& pin_dir) {
#ifdef PORTAUTH_HAVE_PORTWATCH
    watch::ScanSettings settings;
    settings.pin_dir = pin_dir;
    auto found = watch::scan(policy, settings);
    if (!found) {
        spdlog::warn("could not look for sockets already holding reserved ports: {}", found.error().message());
        return;
    }
    for (const auto& q : found->squatters) {
        std::string holders;
        for (const auto& p : q.processes)
            holders += (holders.empty() ? "" : ", ") + ("pid " + std::to_string(p.pid)) + " '" + escape_untrusted(p.comm) + "'";
        spdlog::warn("{}/{}@{} is already held by {} (uid {}){}, against {}: the reservation refuses new binds, not this "
                     "socket; 'portwatch scan --action kill' or a restart of its holder frees it",
                     proto_name(q.socket.proto), q.socket.port, q.socket.addr.str_bracketed(), escape_untrusted(q.user), q.uid,
                     holders.empty() ? "" : " [" + holders + "]", q.entry);
    }
#else
    (void)policy;
    (void)pin_dir;
#endif
}

// The tree was refused (`why`). With a policy in force it stays; with none (a
// boot), the last good policy takes its place, loudly. Always a failure.
int refused(const ApplyOptions& o, const std::string& why) {
    auto fields = where(o);
    fields.push_back({"PORTAUTH_REASON", why});
    auto say = [&](const std::string& message) {
        announce(Priority::err, "refused", message, fields);
        return kExitFailure;
    };
    auto st = engine_status(o.common.pin_dir);
    if (st && st->active)
        return say(why + "; nothing changed, " +
                   (st->fallback ? "the last good policy (loaded as a fallback)" : "the previous policy") + " stays in force");
    if (o.no_fallback) return say(why + "; nothing is enforced (--no-fallback: the last good policy was not loaded)");
    auto last = load_last_good(o.common.pin_dir);
    if (!last)
        return say(why + "; nothing is enforced: no last good policy to fall back on (" +
                   (last.error().err == ENOENT ? last_good_path(o.common.pin_dir) + " does not exist" : last.error().message()) + ")");
    if (last->policy.dir != o.common.policy_dir)
        return say(why + "; nothing is enforced: the last good policy (" + last_good_path(o.common.pin_dir) + ") is from " +
                   last->policy.dir + ", not " + o.common.policy_dir + ", so it was not loaded");
    say(why);
    auto image = compile_policy(last->policy);
    if (!image)
        return say("nothing is enforced: the last good policy " + last_good_path(o.common.pin_dir) +
                   " does not compile: " + image.error().message());
    auto cgroup = resolve_cgroup(o.cgroup);
    if (!cgroup) return say(cgroup.error().message());
    EngineTarget target{o.common.pin_dir, *cgroup, o.common.policy_dir, last->hash, true};
    auto report = engine_apply(*image, target);
    if (!report) return say("nothing is enforced: loading the last good policy failed: " + report.error().message());
    auto fb = where(o);
    fb.insert(fb.end(), {{"PORTAUTH_REASON", why},
                         {"PORTAUTH_TREE_HASH", last->hash},
                         {"PORTAUTH_SAVED_AT", std::to_string(last->saved_at)},
                         {"PORTAUTH_CGROUP", report->cgroup}});
    announce(Priority::crit, "fallback",
             "FALLBACK: the tree at " + o.common.policy_dir + " was refused and nothing was enforced, so the last good policy (applied " +
                 format_utc(last->saved_at) + ", hash " + last->hash.substr(0, 12) + ") is enforced instead; fix the tree and run 'portauth apply'",
             fb);
    print_report(o, *report, last->policy, last->hash, true);
    say_squatters(last->policy, o.common.pin_dir);
    if (report->after_swap) spdlog::error("the last good policy is applied, but {}", report->after_swap->message());
    return kExitFailure;
}

}  // namespace

int run_apply(const ApplyOptions& o) {
    auto policy = load_policy(sources_of(o.common));
    if (!policy) return refused(o, policy.error().message());
    auto image = compile_policy(*policy);
    if (!image) return refused(o, o.common.policy_dir + ": " + image.error().message());
    auto cgroup = resolve_cgroup(o.cgroup);
    if (!cgroup) {
        report_error(cgroup.error());
        return o.cgroup ? kExitUsage : kExitFailure;
    }
    const std::string hash = policy_hash(*policy);
    EngineTarget target{o.common.pin_dir, *cgroup, o.common.policy_dir, hash, false};
    auto report = engine_apply(*image, target);
    if (!report) {
        auto fields = where(o);
        fields.push_back({"PORTAUTH_REASON", report.error().message()});
        announce(Priority::err, "refused", report.error().message() + "; the previous policy (if any) stays in force", fields);
        return kExitFailure;
    }
    // Entries someone other than root can change were applied in their closed
    // form (lib/policy/model.hpp, DisabledEntry): say which, and exit 2.
    for (const auto& d : policy->disabled) {
        auto fields = where(o);
        fields.insert(fields.end(), {{"PORTAUTH_ENTRY", d.origin.str()}, {"PORTAUTH_REASON", d.reason}});
        const std::string path = d.origin.in_policy_dir() ? o.common.policy_dir + "/" + d.origin.file : d.origin.file;
        announce(Priority::warning, "entry-disabled", path + ": " + d.reason, fields);
    }
    // What a boot falls back on when the tree is refused then.
    if (Status s = save_last_good(*policy, report->cgroup, o.common.pin_dir); !s)
        spdlog::warn("the policy is applied, but it could not be kept as the last good policy: {}", s.error().message());
    if (report->after_swap) {
        // The new policy is enforced; a step after the swap failed.
        spdlog::error("the policy is applied, but {}", report->after_swap->message());
        return kExitFailure;
    }
    print_report(o, *report, *policy, hash, false);
    say_squatters(*policy, o.common.pin_dir);
    if (!policy->disabled.empty()) {
        spdlog::warn("applied with {} entr{} disabled (failing closed); the rest of the policy is enforced",
                     policy->disabled.size(), policy->disabled.size() == 1 ? "y" : "ies");
        return kExitApplyDisabled;
    }
    return kExitOk;
}

int run_unload(const Common& o) {
    auto st = engine_status(o.pin_dir);
    if (!st) {
        // Not root, most often: never say "nothing was loaded" of what we cannot see.
        report_error(st.error());
        return kExitFailure;
    }
    const bool was_active = st->active;
    if (Status s = engine_unload(o.pin_dir); !s) {
        report_error(s.error());
        return kExitFailure;
    }
    const std::string line = was_active ? "unloaded the policy pinned at " + o.pin_dir : "no policy was loaded at " + o.pin_dir + "; cleaned up";
    const bool print = was_active ? announce_stdout(Priority::notice, "unloaded", line, {{"PORTAUTH_PIN_DIR", o.pin_dir}}) : true;
    if (!o.json && print) std::printf("portauth: %s\n", line.c_str());
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
