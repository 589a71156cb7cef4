#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "commands.hpp"
#include "common/escape.hpp"
#include "common/json.hpp"
#include "common/term.hpp"
#include "common/utc_time.hpp"
#include "engine/engine.hpp"
#include "engine/features.hpp"
#include "engine/netns.hpp"
#include "engine/last_good.hpp"
#include "engine/system.hpp"
#include "policy/tree.hpp"
#include "output.hpp"

namespace portauth::cli {

namespace {

void json_strings(JsonWriter& j, const std::vector<std::string>& v) {
    j.begin_array();
    for (const auto& x : v) j.value(x);
    j.end_array();
}

// The governed network namespace as people name it: its inode (what
// `ip netns identify` and `lsns` show), its `ip netns` name, whether it is
// the host's, whether this process is in it.
struct GovernedNetns {
    std::optional<uint64_t> inode;
    std::optional<std::string> name;
    bool host = false;
    std::optional<bool> current;
};

GovernedNetns governed_netns(const EngineStatus& st) {
    GovernedNetns g;
    if (st.netns_inode) {
        g.inode = st.netns_inode;
        g.name = netns_name(st.netns_inode);
        g.host = host_netns_inode() == st.netns_inode;
    }
    if (auto cookie = current_netns_cookie()) g.current = *cookie == st.netns_cookie;
    return g;
}

std::string describe(const GovernedNetns& g, const EngineStatus& st) {
    std::string out = g.inode ? "net:[" + std::to_string(*g.inode) + "]" : "cookie " + std::to_string(st.netns_cookie);
    if (g.name) out += " '" + escape_untrusted(*g.name) + "'";
    if (g.host) out += " (the host's)";
    if (g.current) out += *g.current ? ", this process's" : ", not this process's";
    return out;
}

}  // namespace

const char* tree_state_name(TreeComparison::State s) {
    switch (s) {
        case TreeComparison::State::unchanged: return "unchanged";
        case TreeComparison::State::changed: return "changed";
        case TreeComparison::State::refused: return "refused";
        case TreeComparison::State::unknown: break;
    }
    return "unknown";
}

TreeComparison compare_tree(const EngineStatus& st, const std::string& pin_dir) {
    TreeComparison t;
    if (!st.active || st.policy_dir.empty()) return t;
    auto enforced = enforced_policy(st, pin_dir);
    // The authbind tree the enforced policy merged in, else the one that goes with its policy dir.
    const std::string authbind_dir = enforced.policy && !enforced.policy->authbind_dir.empty()
                                         ? enforced.policy->authbind_dir
                                         : default_authbind_dir(st.policy_dir);
    auto now = load_policy(PolicySources{st.policy_dir, authbind_dir});
    if (enforced.policy) t.disabled = enforced.policy->disabled;
    if (!now) {
        t.state = TreeComparison::State::refused;
        t.detail = now.error().message();
        return t;
    }
    if (st.tree_hash.empty()) {
        t.detail = enforced.why_not + "; run 'portauth apply'";
        return t;
    }
    if (policy_hash(*now) == st.tree_hash) {
        t.state = TreeComparison::State::unchanged;
        return t;
    }
    t.state = TreeComparison::State::changed;
    if (enforced.policy) t.drift = policy_drift(*enforced.policy, *now);
    else t.detail = enforced.why_not + ", so only the hash differs";
    return t;
}

std::string format_status_json(const EngineStatus& st, const std::string& pin_dir, const TreeComparison* tree) {
    JsonWriter j;
    j.begin_object().field("active", st.active).field("pin_dir", pin_dir);
    if (!st.problem.empty()) j.field("problem", st.problem);
    if (st.generation) {
        j.field("cgroup", st.cgroup)
            .field("policy_dir", st.policy_dir)
            .field("applied_at", st.applied_at)
            .field("applied_at_utc", utc_iso8601(static_cast<int64_t>(st.applied_at)))
            .field("generation", st.generation)
            .field("rule_count", st.rule_count)
            .field("root_exempt", st.root_exempt)
            .field("denial_errno", st.eacces ? "EACCES" : "EPERM");
        if (st.features_known) j.field("program_lacks", feature_list(st.features, false));
        const GovernedNetns ns = governed_netns(st);
        j.field("netns_cookie", st.netns_cookie);
        if (ns.inode) j.field("netns_inode", *ns.inode);
        else j.key("netns_inode").null();
        if (ns.name) j.field("netns_name", *ns.name);
        else j.key("netns_name").null();
        if (ns.current) j.field("netns_current", *ns.current);
        else j.key("netns_current").null();
        j.field("prog_id_bind4", st.prog_id_bind4)
            .field("prog_id_bind6", st.prog_id_bind6)
            .field("ip_local_reserved_ports_added", format_port_set(st.sysctl_ports))
            .field("tree_hash", st.tree_hash)
            .field("fallback", st.fallback);
        if (tree) {
            j.key("tree").begin_object().field("state", tree_state_name(tree->state));
            if (!tree->detail.empty()) j.field("detail", tree->detail);
            j.key("added");
            json_strings(j, tree->drift.added);
            j.key("removed");
            json_strings(j, tree->drift.removed);
            j.key("changed");
            json_strings(j, tree->drift.changed);
            j.end_object();
            j.key("disabled").begin_array();
            for (const auto& d : tree->disabled) j.begin_object().field("entry", d.origin.str()).field("reason", d.reason).end_object();
            j.end_array();
        }
        j.key("rules").begin_array();
        for (const auto& r : st.rules)
            j.begin_object().field("id", r.id).field("entry", r.name).field("allowed", r.allowed).field("denied", r.denied).end_object();
        j.end_array();
    }
    j.end_object();
    return j.str() + "\n";
}

std::string format_status_text(const EngineStatus& st, const std::string& pin_dir, const Palette& palette,
                               const TreeComparison* tree) {
    if (!st.active) return "portauth: " + palette.paint("not active", Tone::bad) + ": " + st.problem + "\n";
    std::string out = "portauth: " + palette.paint("active", Tone::good) + "\n";
    // Active, but the engine noticed something (an interrupted apply, say): the
    // same sentence --json has as "problem".
    const std::string warning = "portauth: " + palette.paint("warning", Tone::warning) + ": ";
    if (!st.problem.empty()) out += warning + st.problem + "\n";
    if (st.fallback)
        out += warning + "FALLBACK: this is the last good policy, loaded because the tree at " + st.policy_dir +
               " was refused; fix the tree and run 'portauth apply'\n";
    if (tree && tree->state == TreeComparison::State::changed)
        out += warning + "the tree changed since the last apply" +
               (tree->drift.empty() ? " (" + tree->detail + ")" : ": " + tree->drift.summary()) +
               "; the kernel enforces the policy as applied; run 'portauth apply'\n";
    if (tree && tree->state == TreeComparison::State::refused && !st.fallback)
        out += warning + "the tree as it is now would be refused (" + tree->detail + "); the enforced policy stays until it is fixed\n";
    if (tree)
        for (const auto& d : tree->disabled)
            out += warning + "entry " + d.origin.str() + " is disabled (failing closed): " + d.reason + "\n";
    out += fmt::format("  cgroup:        {}\n", st.cgroup);
    out += fmt::format("  policy dir:    {}\n", st.policy_dir);
    out += fmt::format("  applied:       {} (generation {})\n", format_utc(st.applied_at), st.generation);
    out += fmt::format("  rules:         {}\n", st.rule_count);
    out += fmt::format("  root exempt:   {}\n", st.root_exempt ? "yes" : "no (strict)");
    out += fmt::format("  refusals fail: {}\n", st.eacces ? "EACCES" : "EPERM");
    if (!st.features_known)
        out += "  program:       variant not recorded (loaded by an earlier portauth)\n";
    else if (const auto missing = describe_missing(st.features); missing.empty())
        out += "  program:       full (every optional kernel feature)\n";
    else
        for (size_t i = 0; i < missing.size(); ++i) out += fmt::format("  {}{}\n", i ? "               " : "program:       ", missing[i]);
    out += fmt::format("  network ns:    {}\n", describe(governed_netns(st), st));
    out += fmt::format("  pinned at:     {}\n", pin_dir);
    if (!st.tree_hash.empty())
        out += fmt::format("  policy hash:   {}{}\n", st.tree_hash.substr(0, 16),
                           !tree ? ""
                           : tree->state == TreeComparison::State::unchanged ? " (the tree is unchanged)"
                           : tree->state == TreeComparison::State::changed   ? " (the tree has changed)"
                                                                              : "");
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
    const TreeComparison tree = compare_tree(*st, o.pin_dir);
    const TreeComparison* t = st->active ? &tree : nullptr;
    const std::string out = o.json ? format_status_json(*st, o.pin_dir, t) : format_status_text(*st, o.pin_dir, stdout_palette(), t);
    std::printf("%s", out.c_str());
    return st->active ? kExitOk : kExitNo;
}

}  // namespace portauth::cli
