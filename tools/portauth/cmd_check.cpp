#include <unistd.h>

#include <optional>

#include "commands.hpp"
#include "common/json.hpp"
#include "common/parse.hpp"
#include "common/proc_status.hpp"
#include "common/term.hpp"
#include "engine/engine.hpp"
#include "engine/last_good.hpp"
#include "engine/system.hpp"
#include "output.hpp"
#include "policy/decide.hpp"
#include "policy/spec.hpp"
#include "policy/tree.hpp"

namespace portauth::cli {

namespace {

bool self_has_cap_net_bind_service() { return has_effective_capability(10); }   // CAP_NET_BIND_SERVICE

struct Who {
    Credentials creds;
    bool cap = false;
    std::string label;
};

Result<Who> resolve_who(const CheckOptions& o) {
    Who w;
    if (!o.user) {
        w.creds.euid = ::geteuid();
        w.creds.egid = ::getegid();
        int n = ::getgroups(0, nullptr);
        std::vector<gid_t> g(n > 0 ? static_cast<size_t>(n) : 0);
        if (n > 0 && ::getgroups(n, g.data()) >= 0) w.creds.groups.assign(g.begin(), g.end());
        w.cap = self_has_cap_net_bind_service();
        w.label = format_principal(user_principal(w.creds.euid)) + " (this process)";
    } else {
        auto p = parse_principal(*o.user);
        if (!p) return p.error();
        if (p->kind != Principal::Kind::user) return logic_error("--user takes a user, not the group '" + *o.user + "'");
        // common/user_database.hpp's rules: a uid without a passwd entry is
        // judged with the gid of the same number and no supplementary groups.
        auto c = judged_credentials(p->id, system_user_database());
        if (!c) return c.error();
        w.creds = *c;
        w.cap = p->id == 0;
        w.label = format_principal(*p);
    }
    bool first = true;
    for (const auto& gtext : o.groups) {
        auto g = parse_principal(gtext[0] == '%' ? gtext : "%" + gtext);
        if (!g) return g.error();
        if (first) {
            w.creds.egid = g->id;   // the first --group is the effective gid, the rest supplementary
            w.creds.groups.clear();
        }
        w.creds.groups.push_back(g->id);
        first = false;
    }
    w.label += ", gid " + std::to_string(w.creds.egid);
    return w;
}

// For an IPv6 wildcard: whether it was judged dual-stack or v6-only, and
// where the kernel's judgement may differ. Empty for other addresses.
std::string stack_note(const BindRequest& req) {
    if (req.addr.is_v4() || !req.addr.is_wildcard()) return "";
    const std::string unreadable =
        "the kernel judges a bind dual-stack where it cannot read IPV6_V6ONLY (MPTCP sockets; kernels without "
        "bpf_skc_to_tcp6_sock in bind programs)";
    if (req.v6only) return "v6-only (IPV6_V6ONLY): [::] takes the IPv6 wildcard only, not the IPv4 one; " + unreadable;
    return "dual-stack: [::] takes the IPv4 wildcard too (an IPV6_V6ONLY socket does not: ask with --v6only); " + unreadable;
}

const char* by_name(DecidedBy b) {
    switch (b) {
        case DecidedBy::reservation: return "reservation";
        case DecidedBy::grant: return "grant";
        case DecidedBy::kernel: return "kernel";
    }
    return "kernel";
}

}  // namespace

int run_check(const CheckOptions& o) {
    auto spec = parse_bind_spec(o.spec);
    if (!spec) {
        report_error(spec.error());
        return kExitUsage;
    }
    if (o.v6only && spec->addr.is_v4()) {
        report_error(logic_error("--v6only needs an IPv6 address, and '" + o.spec + "' asks about " + spec->addr.str() +
                                 ", an IPv4 address (an IPV6_V6ONLY socket cannot bind it)"));
        return kExitUsage;
    }
    auto who = resolve_who(o);
    if (!who) {
        report_error(who.error());
        return kExitUsage;
    }
    // By default the answer is the kernel's: the enforced policy, kept as the
    // last good policy by apply. --tree, or when that cannot be read, the files.
    std::optional<Policy> enforced;
    std::string from, note;
    if (!o.tree) {
        auto st = engine_status(o.common.pin_dir);
        if (!st) {
            note = "the enforced policy could not be read (" + st.error().message() + "); answered from the tree";
        } else if (!st->active) {
            note = "nothing is enforced at " + o.common.pin_dir + "; answered from the tree";
        } else if (st->policy_dir != o.common.policy_dir) {
            note = "the enforced policy is from " + st->policy_dir + "; answered from the tree at " + o.common.policy_dir;
        } else if (auto e = enforced_policy(*st, o.common.pin_dir); !e.policy) {
            note = e.why_not + "; answered from the tree";
        } else {
            enforced = std::move(e.policy);
            from = "the enforced policy (generation " + std::to_string(st->generation) + (st->fallback ? ", a fallback" : "") + ")";
        }
    }
    auto tree = load_policy(sources_of(o.common));
    if (!tree && !enforced) {
        report_error(tree.error());
        return kExitFailure;
    }
    if (!enforced) from = "the tree at " + o.common.policy_dir;
    const Policy& policy = enforced ? *enforced : *tree;
    BindRequest req{spec->proto, spec->addr, spec->port, o.v6only};
    HostFacts host{unprivileged_port_start(), who->cap};
    Decision d = decide(policy, req, who->creds, host);
    // The files may say something else than the kernel enforces: say so.
    std::optional<Decision> tree_d;
    if (enforced) {
        if (!tree) {
            note = "the tree at " + o.common.policy_dir + " would be refused now: " + tree.error().message();
        } else {
            tree_d = decide(*tree, req, who->creds, host);
            if (tree_d->allowed != d.allowed || tree_d->rule.has_value() != d.rule.has_value() ||
                (tree_d->rule && tree_d->rule->str() != d.rule->str()))
                note = std::string("the tree at ") + o.common.policy_dir + " now says " + (tree_d->allowed ? "ALLOWED" : "REFUSED") +
                       (tree_d->rule ? " (" + tree_d->rule->str() + ")" : "") + ": run 'portauth apply' to enforce it";
        }
    }
    if (o.common.json) {
        JsonWriter j;
        j.begin_object()
            .field("allowed", d.allowed)
            .field("proto", proto_name(req.proto))
            .field("addr", req.addr.str())
            .field("port", static_cast<uint32_t>(req.port))
            .field("v6only", req.v6only)
            .field("uid", who->creds.euid)
            .field("gid", who->creds.egid)
            .field("decided_by", by_name(d.by))
            .field("capability_waived", d.cap_waived);
        if (d.rule) j.field("entry", d.rule->str()).field("entry_tree", tree_of(policy, *d.rule));
        else j.key("entry").null().key("entry_tree").null();
        j.field("reason", d.reason).field("source", enforced ? "enforced" : "tree");
        if (tree_d) j.field("tree_allowed", tree_d->allowed);
        else j.key("tree_allowed").null();
        if (!note.empty()) j.field("note", note);
        j.end_object();
        std::printf("%s\n", j.str().c_str());
    } else {
        const Palette palette = stdout_palette();
        std::printf("%s/%u@%s for %s: %s\n", proto_name(req.proto), req.port, req.addr.str_bracketed().c_str(),
                    who->label.c_str(), palette.paint(d.allowed ? "ALLOWED" : "REFUSED", d.allowed ? Tone::good : Tone::bad).c_str());
        std::printf("  decided by: %s%s\n", by_name(d.by), d.rule ? (" (" + d.rule->str() + ")").c_str() : "");
        if (d.rule && !policy.authbind_dir.empty()) std::printf("  entry in:   %s\n", tree_of(policy, *d.rule).c_str());
        std::printf("  why:        %s\n", d.reason.c_str());
        if (const std::string stack = stack_note(req); !stack.empty()) std::printf("  stack:      %s\n", stack.c_str());
        std::printf("  from:       %s\n", from.c_str());
        if (!note.empty()) std::printf("  note:       %s\n", note.c_str());
    }
    return d.allowed ? kExitOk : kExitNo;
}

}  // namespace portauth::cli
