#include <algorithm>
#include <ctime>
#include <vector>

#include "commands.hpp"
#include "common/json.hpp"
#include "engine/engine.hpp"
#include "engine/system.hpp"
#include "output.hpp"

namespace portauth::cli {

namespace {

std::string format_time(uint64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

}  // namespace

int run_status(const Common& o) {
    auto st = engine_status(o.pin_dir);
    if (!st) {
        report_error(st.error());
        return kExitFailure;
    }
    if (o.json) {
        JsonWriter j;
        j.begin_object().field("active", st->active).field("pin_dir", o.pin_dir);
        if (!st->problem.empty()) j.field("problem", st->problem);
        if (st->generation) {
            j.field("cgroup", st->cgroup)
                .field("policy_dir", st->policy_dir)
                .field("applied_at", st->applied_at)
                .field("generation", st->generation)
                .field("rule_count", st->rule_count)
                .field("root_exempt", st->root_exempt)
                .field("denial_errno", st->eacces ? "EACCES" : "EPERM")
                .field("netns_cookie", st->netns_cookie)
                .field("prog_id_bind4", st->prog_id_bind4)
                .field("prog_id_bind6", st->prog_id_bind6)
                .field("ip_local_reserved_ports_added", format_port_set(st->sysctl_ports));
            j.key("rules").begin_array();
            for (const auto& r : st->rules)
                j.begin_object().field("id", r.id).field("entry", r.name).field("allowed", r.allowed).field("denied", r.denied).end_object();
            j.end_array();
        }
        j.end_object();
        std::printf("%s\n", j.str().c_str());
        return st->active ? kExitOk : kExitNo;
    }
    if (!st->active) {
        std::printf("portauth: not active: %s\n", st->problem.c_str());
        return kExitNo;
    }
    std::printf("portauth: active\n");
    std::printf("  cgroup:        %s\n", st->cgroup.c_str());
    std::printf("  policy dir:    %s\n", st->policy_dir.c_str());
    std::printf("  applied:       %s (generation %u)\n", format_time(st->applied_at).c_str(), st->generation);
    std::printf("  rules:         %u\n", st->rule_count);
    std::printf("  root exempt:   %s\n", st->root_exempt ? "yes" : "no (strict)");
    std::printf("  refusals fail: %s\n", st->eacces ? "EACCES" : "EPERM");
    std::printf("  pinned at:     %s\n", o.pin_dir.c_str());
    if (!st->sysctl_ports.empty())
        std::printf("  ip_local_reserved_ports (ours): %s\n", format_port_set(st->sysctl_ports).c_str());
    if (!st->rules.empty()) {
        // Every entry when there are few; with many, the ones that saw binds (--json has all).
        constexpr size_t kListAll = 40;
        std::vector<const RuleStatus*> shown;
        for (const auto& r : st->rules)
            if (st->rules.size() <= kListAll || r.allowed || r.denied) shown.push_back(&r);
        size_t width = 5;
        for (const auto* r : shown) width = std::max(width, r->name.size());
        if (!shown.empty()) std::printf("\n  %-*s %10s %10s\n", static_cast<int>(width), "ENTRY", "ALLOWED", "DENIED");
        for (const auto* r : shown)
            std::printf("  %-*s %10llu %10llu\n", static_cast<int>(width), r->name.c_str(),
                        static_cast<unsigned long long>(r->allowed), static_cast<unsigned long long>(r->denied));
        if (shown.size() < st->rules.size())
            std::printf("  (%zu more entries saw no binds; portauth status --json lists them all)\n",
                        st->rules.size() - shown.size());
    }
    return kExitOk;
}

}  // namespace portauth::cli
