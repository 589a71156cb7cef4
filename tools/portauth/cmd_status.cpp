#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "commands.hpp"
#include "common/json.hpp"
#include "common/term.hpp"
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

std::string format_status_json(const EngineStatus& st, const std::string& pin_dir) {
    JsonWriter j;
    j.begin_object().field("active", st.active).field("pin_dir", pin_dir);
    if (!st.problem.empty()) j.field("problem", st.problem);
    if (st.generation) {
        j.field("cgroup", st.cgroup)
            .field("policy_dir", st.policy_dir)
            .field("applied_at", st.applied_at)
            .field("generation", st.generation)
            .field("rule_count", st.rule_count)
            .field("root_exempt", st.root_exempt)
            .field("denial_errno", st.eacces ? "EACCES" : "EPERM")
            .field("netns_cookie", st.netns_cookie)
            .field("prog_id_bind4", st.prog_id_bind4)
            .field("prog_id_bind6", st.prog_id_bind6)
            .field("ip_local_reserved_ports_added", format_port_set(st.sysctl_ports));
        j.key("rules").begin_array();
        for (const auto& r : st.rules)
            j.begin_object().field("id", r.id).field("entry", r.name).field("allowed", r.allowed).field("denied", r.denied).end_object();
        j.end_array();
    }
    j.end_object();
    return j.str() + "\n";
}

std::string format_status_text(const EngineStatus& st, const std::string& pin_dir, const Palette& palette) {
    if (!st.active) return "portauth: " + palette.paint("not active", Tone::bad) + ": " + st.problem + "\n";
    std::string out = "portauth: " + palette.paint("active", Tone::good) + "\n";
    // Active, but the engine noticed something (an interrupted apply, say): the
    // same sentence --json has as "problem".
    if (!st.problem.empty()) out += "portauth: " + palette.paint("warning", Tone::warning) + ": " + st.problem + "\n";
    out += fmt::format("  cgroup:        {}\n", st.cgroup);
    out += fmt::format("  policy dir:    {}\n", st.policy_dir);
    out += fmt::format("  applied:       {} (generation {})\n", format_time(st.applied_at), st.generation);
    out += fmt::format("  rules:         {}\n", st.rule_count);
    out += fmt::format("  root exempt:   {}\n", st.root_exempt ? "yes" : "no (strict)");
    out += fmt::format("  refusals fail: {}\n", st.eacces ? "EACCES" : "EPERM");
    out += fmt::format("  pinned at:     {}\n", pin_dir);
    if (!st.sysctl_ports.empty())
        out += fmt::format("  ip_local_reserved_ports (ours): {}\n", format_port_set(st.sysctl_ports));
    if (st.rules.empty()) return out;
    // Every entry when there are few; with many, the ones that saw binds (--json has all).
    constexpr size_t kListAll = 40;
    constexpr size_t kCountWidth = 10;
    std::vector<const RuleStatus*> shown;
    for (const auto& r : st.rules)
        if (st.rules.size() <= kListAll || r.allowed || r.denied) shown.push_back(&r);
    size_t width = 5;
    for (const auto* r : shown) width = std::max(width, r->name.size());
    if (!shown.empty()) out += fmt::format("\n  {:<{}} {:>{}} {:>{}}\n", "ENTRY", width, "ALLOWED", kCountWidth, "DENIED", kCountWidth);
    for (const auto* r : shown)
        out += fmt::format("  {:<{}} {:>{}} {}\n", r->name, width, r->allowed, kCountWidth,
                           palette.paint_right(std::to_string(r->denied), kCountWidth, r->denied ? Tone::bad : Tone::plain));
    if (shown.size() < st.rules.size())
        out += fmt::format("  ({} more entries saw no binds; portauth status --json lists them all)\n", st.rules.size() - shown.size());
    return out;
}

int run_status(const Common& o) {
    auto st = engine_status(o.pin_dir);
    if (!st) {
        report_error(st.error());
        return kExitFailure;
    }
    const std::string out = o.json ? format_status_json(*st, o.pin_dir) : format_status_text(*st, o.pin_dir, stdout_palette());
    std::printf("%s", out.c_str());
    return st->active ? kExitOk : kExitNo;
}

}  // namespace portauth::cli
