// allow / revoke / list (grants) and portreserve add / release / list.
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

#include "commands.hpp"
#include "common/json.hpp"
#include "common/term.hpp"
#include "output.hpp"
#include "policy/edit.hpp"
#include "policy/spec.hpp"
#include "policy/tree.hpp"
#include "policy/who.hpp"

namespace portauth::cli {

namespace {

Result<std::vector<Principal>> parse_principals(const std::vector<std::string>& texts) {
    std::vector<Principal> out;
    for (const auto& t : texts) {
        auto p = parse_principal(t);
        if (!p) return p.error();
        out.push_back(*p);
    }
    return out;
}

// What an edit changed, for the journal (docs/journal.md, "edited").
std::vector<JournalField> spec_fields(const GrantSpec& s) {
    return {{"PORTAUTH_ENTRY", grant_entry_path(s)}, {"PORTAUTH_PROTO", "any"}, {"PORTAUTH_PORT", std::to_string(s.port)}};
}
std::vector<JournalField> spec_fields(const ReserveSpec& s) {
    return {{"PORTAUTH_ENTRY", reserve_entry_path(s)}, {"PORTAUTH_PROTO", proto_name(s.proto)}, {"PORTAUTH_PORT", format_port_range(s.port_min, s.port_max)}};
}

template <class Spec>
std::vector<JournalField> edit_fields(const EditOptions& o, const char* done, const Spec& spec, const std::vector<Principal>& principals) {
    std::vector<JournalField> f = {{"PORTAUTH_POLICY_DIR", o.common.policy_dir}, {"PORTAUTH_EDIT", done}};
    for (auto& x : spec_fields(spec)) f.push_back(std::move(x));
    std::string list;
    for (const auto& p : principals) {
        const bool group = p.kind == Principal::Kind::group;
        list += (list.empty() ? "" : ",") + std::string(group ? "gid:" : "uid:") + std::to_string(p.id);
        // One field per principal: journalctl PORTAUTH_UID=33 finds every edit that names uid 33.
        f.push_back({group ? "PORTAUTH_GID" : "PORTAUTH_UID", std::to_string(p.id)});
    }
    f.push_back({"PORTAUTH_PRINCIPALS", list});
    f.push_back({"PORTAUTH_APPLY", o.no_apply ? "0" : "1"});
    return f;
}

template <class Spec, class ParseFn, class EditFn>
int edit(const EditOptions& o, const char* tool, ParseFn parse, EditFn apply_edit, const char* done, bool need_principals) {
    auto spec = parse(o.spec);
    if (!spec) {
        report_error(spec.error());
        return kExitUsage;
    }
    auto principals = parse_principals(o.principals);
    if (!principals) {
        report_error(principals.error());
        return kExitUsage;
    }
    if (need_principals && principals->empty()) {
        spdlog::error("name at least one user or %group");
        return kExitUsage;
    }
    if (Status s = apply_edit(o.common.policy_dir, *spec, *principals); !s) {
        report_error(s.error());
        return kExitFailure;
    }
    std::string names;
    for (const auto& p : *principals) names += (names.empty() ? "" : ", ") + format_principal(p);
    const std::string line = std::string(tool) + ": " + done + " " + o.spec + (names.empty() ? "" : ": ") + names;
    if (announce_stdout(Priority::notice, "edited", line, edit_fields(o, done, *spec, *principals))) std::printf("%s\n", line.c_str());
    if (o.no_apply) return kExitOk;
    return reapply_after_edit(o.common, tool);
}

void print_entries(const char* tool, bool json, const EntryRows& rows, const char* what, bool show_tree = false) {
    const std::string out = json ? format_entries_json(rows) : format_entries_text(rows, tool, what, stdout_palette(), show_tree);
    std::printf("%s", out.c_str());
}

// revoke edits the policy dir only. A grant for the spec in the authbind
// tree - deciding, or shadowed by the entry revoke would edit (and so
// deciding again once that entry is removed) - would let the principal
// through all the same: refuse, naming the file, before changing anything.
Status refuse_authbind_grant(const Policy& merged, const GrantSpec& spec) {
    if (merged.authbind_dir.empty()) return {};
    std::vector<std::string> names = {grant_entry_path(spec)};
    std::string found;
    for (const auto& g : merged.port_grants)
        if (!spec.addr && g.port == spec.port) (g.origin.in_policy_dir() ? names.push_back(g.origin.file) : void(found = g.origin.file));
    for (const auto& g : merged.addr_grants)
        if (spec.addr && g.port == spec.port && g.addr == *spec.addr)
            (g.origin.in_policy_dir() ? names.push_back(g.origin.file) : void(found = g.origin.file));
    for (const auto& name : names) {
        const std::string lower = merged.authbind_dir + "/" + name;
        if (found.empty() && std::binary_search(merged.shadowed.begin(), merged.shadowed.end(), lower)) found = lower;
    }
    if (found.empty()) return {};
    return logic_error("the grant for port " + format_grant_spec(spec) + " is (also) in authbind's tree, " + found +
                       ", which portauth does not edit: change that file (chmod, setfacl, or rm) yourself, then run "
                       "'portauth apply'");
}

// [{"kind":"user","id":33,"name":"www-data","via":"owner"}, {"kind":"everyone","id":null,"name":null,"via":"other"}]
void write_who(JsonWriter& j, const std::vector<Who>& who) {
    j.begin_array();
    for (const auto& w : who) {
        j.begin_object().field("kind", kind_name(w.kind)).key("id");
        if (w.kind == Who::Kind::everyone) j.null();
        else j.value(w.id);
        j.key("name");
        if (w.name.empty()) j.null();
        else j.value(w.name);
        j.field("via", via_name(w.via)).end_object();
    }
    j.end_array();
}

}  // namespace

std::string format_entries_json(const EntryRows& rows) {
    JsonWriter j;
    j.begin_array();
    for (const auto& row : rows) {
        j.begin_object().field("entry", row.entry);
        if (!row.tree.empty()) j.field("tree", row.tree);
        j.key("principals").begin_array();
        for (const auto& w : row.who) j.value(w.text());
        j.end_array();
        if (!row.excluded.empty()) {
            j.key("excluded").begin_array();
            for (const auto& w : row.excluded) j.value(w.text());
            j.end_array();
        }
        j.field("disabled", row.disabled_reason.has_value()).key("disabled_reason");
        if (row.disabled_reason) j.value(*row.disabled_reason);
        else j.null();
        write_who(j.key("who"), row.who);
        if (!row.excluded.empty()) write_who(j.key("excluded_who"), row.excluded);
        j.end_object();
    }
    j.end_array();
    return j.str() + "\n";
}

std::string format_entries_text(const EntryRows& rows, const char* tool, const char* what, const Palette& palette,
                                bool show_tree) {
    if (rows.empty()) return std::string(tool) + ": no " + what + "\n";
    size_t width = 5, tree_width = 4;
    for (const auto& r : rows) width = std::max(width, r.entry.size()), tree_width = std::max(tree_width, r.tree.size());
    const auto tree_column = [&](const std::string& tree) { return show_tree ? fmt::format("{:<{}}  ", tree, tree_width) : ""; };
    std::string out = fmt::format("{}{:<{}}  {}\n", tree_column("TREE"), "ENTRY", width, "WHO");
    for (const auto& row : rows) {
        std::string list;
        for (const auto& w : row.who) {
            if (!list.empty()) list += ", ";
            list += w.text();
        }
        if (!row.excluded.empty()) {
            list += " except ";
            for (size_t i = 0; i < row.excluded.size(); ++i) {
                if (i > 0) list += ", ";
                list += row.excluded[i].text();
            }
        }
        std::string who;
        if (row.disabled_reason)
            // Failing closed: say what is left of the entry, and why.
            who = palette.paint((list.empty() ? "nobody" : list + " only") + " (disabled: " + *row.disabled_reason + ")", Tone::bad);
        else
            // An entry that lets nobody through is worth a second look.
            who = list.empty() ? palette.paint("(nobody)", Tone::warning) : list;
        out += fmt::format("{}{:<{}}  {}\n", tree_column(row.tree), row.entry, width, who);
    }
    return out;
}

int run_allow(const EditOptions& o) {
    return edit<GrantSpec>(o, "portauth", parse_grant_spec, [](const std::string& d, const GrantSpec& s, const std::vector<Principal>& p) { return grant_allow(d, s, p); }, "granted", true);
}

int run_revoke(const EditOptions& o) {
    const PolicySources sources = sources_of(o.common);
    return edit<GrantSpec>(o, "portauth", parse_grant_spec, [&](const std::string& d, const GrantSpec& s, const std::vector<Principal>& p) -> Status {
        if (!sources.authbind_dir.empty()) {
            auto merged = load_policy(sources);
            if (!merged) return merged.error();
            PA_TRY(refuse_authbind_grant(*merged, s));
        }
        return grant_revoke(d, s, p);
    }, "revoked", true);
}

int run_reserve_add(const EditOptions& o) {
    return edit<ReserveSpec>(o, "portreserve", parse_reserve_spec, [](const std::string& d, const ReserveSpec& s, const std::vector<Principal>& p) { return reserve_add(d, s, p); }, "reserved", true);
}

int run_reserve_release(const EditOptions& o) {
    return edit<ReserveSpec>(o, "portreserve", parse_reserve_spec, [](const std::string& d, const ReserveSpec& s, const std::vector<Principal>& p) { return reserve_release(d, s, p); }, "released", false);
}

namespace {

// Why each disabled entry is disabled, by its file relative to the policy dir.
std::map<std::string, std::string> disabled_by_file(const Policy& policy) {
    std::map<std::string, std::string> out;
    for (const auto& d : policy.disabled) out.emplace(d.origin.file, d.reason);
    return out;
}

std::optional<std::string> reason_for(const std::map<std::string, std::string>& disabled, const Origin& origin) {
    const auto it = disabled.find(origin.file);
    if (it == disabled.end()) return std::nullopt;
    return it->second;
}

}  // namespace

int run_list(const Common& o) {
    auto policy = load_policy(sources_of(o));
    if (!policy) {
        report_error(policy.error());
        return kExitFailure;
    }
    const auto disabled = disabled_by_file(*policy);
    // A disabled grant is loaded in its closed form, which lets nobody through.
    EntryRows rows;
    const auto row = [&](const auto& g) {
        return EntryRow{g.origin.str(), describe_access(g.access), reason_for(disabled, g.origin), describe_exclusions(g.access),
                        tree_of(*policy, g.origin)};
    };
    for (const auto& g : policy->port_grants) rows.push_back(row(g));
    for (const auto& g : policy->addr_grants) rows.push_back(row(g));
    for (const auto& f : policy->uid_grants)
        for (const auto& line : f.lines) {
            std::string addrs = line.addrs.low == line.addrs.high ? line.addrs.low.str()
                                                                   : line.addrs.low.str() + "-" + line.addrs.high.str();
            rows.push_back({line.origin.str() + " (" + addrs + "," + format_port_range(line.port_min, line.port_max) + ")", {user_who(f.uid, Who::Via::byuid)},
                            reason_for(disabled, f.origin), {}, tree_of(*policy, f.origin)});
        }
    const bool merged = !policy->authbind_dir.empty();
    print_entries("portauth", o.json, rows, "grants", merged);
    if (!o.json)
        for (const auto& s : policy->shadowed)
            std::printf("not enforced: %s, shadowed by the entry of the same name in %s\n", s.c_str(), policy->dir.c_str());
    return kExitOk;
}

int run_reserve_list(const Common& o) {
    auto policy = load_policy(o.policy_dir);
    if (!policy) {
        report_error(policy.error());
        return kExitFailure;
    }
    const auto disabled = disabled_by_file(*policy);
    EntryRows rows;
    for (const auto& r : policy->reservations) {
        ReserveSpec spec{r.proto, r.port_min, r.port_max, r.addr};
        auto reason = reason_for(disabled, r.origin);
        // A disabled reservation keeps its port for uid 0 alone, whatever
        // root-exempt says; its closed form names root as the owner, which it is not.
        std::vector<Who> who = reason ? std::vector<Who>{user_who(0, Who::Via::root)} : describe_access(r.access);
        std::vector<Who> excluded = reason ? std::vector<Who>{} : describe_exclusions(r.access);
        rows.push_back({format_reserve_spec(spec), std::move(who), std::move(reason), std::move(excluded), tree_of(*policy, r.origin)});
    }
    print_entries("portreserve", o.json, rows, "reservations");
    return kExitOk;
}

}  // namespace portauth::cli
