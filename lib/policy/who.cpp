#include "policy/who.hpp"

#include "policy/spec.hpp"

namespace portauth {

namespace {

Who from_principal(const Principal& p, Who::Via via) {
    const bool group = p.kind == Principal::Kind::group;
    // spec.hpp's Principal holds the number as its name when NSS has none.
    const std::string name = p.name == std::to_string(p.id) ? std::string() : p.name;
    return Who{group ? Who::Kind::group : Who::Kind::user, via, p.id, name};
}

}  // namespace

std::string Who::text() const {
    if (kind == Kind::everyone) return "everyone";
    std::string principal = format_principal(Principal{kind == Kind::group ? Principal::Kind::group : Principal::Kind::user, id, name});
    if (via == Via::owner) return "owner " + principal;
    if (via == Via::group) return "group " + principal;
    return principal;
}

const char* kind_name(Who::Kind k) {
    switch (k) {
        case Who::Kind::user: return "user";
        case Who::Kind::group: return "group";
        case Who::Kind::everyone: return "everyone";
    }
    return "?";
}

const char* via_name(Who::Via v) {
    switch (v) {
        case Who::Via::owner: return "owner";
        case Who::Via::group: return "group";
        case Who::Via::acl: return "acl";
        case Who::Via::other: return "other";
        case Who::Via::byuid: return "byuid";
        case Who::Via::root: return "root";
    }
    return "?";
}

Who user_who(uint32_t uid, Who::Via via) { return from_principal(user_principal(uid), via); }
Who group_who(uint32_t gid, Who::Via via) { return from_principal(group_principal(gid), via); }

std::vector<Who> describe_access(const AccessSpec& access) {
    std::vector<Who> who;
    const bool mask = !access.has_acl || access.mask_x;
    if (access.owner_x) who.push_back(user_who(access.owner_uid, Who::Via::owner));
    if (access.group_x && mask) who.push_back(group_who(access.owner_gid, Who::Via::group));
    for (const auto& u : access.users)
        if (u.execute && mask) who.push_back(user_who(u.id, Who::Via::acl));
    for (const auto& g : access.groups)
        if (g.execute && mask) who.push_back(group_who(g.id, Who::Via::acl));
    if (access.other_x) who.push_back(Who{Who::Kind::everyone, Who::Via::other, 0, {}});
    return who;
}

std::vector<Who> describe_exclusions(const AccessSpec& access) {
    const bool mask = !access.has_acl || access.mask_x;
    const bool group_grants = access.group_x && mask;
    bool some_group = group_grants;
    for (const auto& g : access.groups) some_group = some_group || (g.execute && mask);
    // Without a group or everyone granted, nobody is left out of anything.
    if (!some_group && !access.other_x) return {};
    std::vector<Who> out;
    // access(2) judges the owner by the owner bits and a named user by its entry
    // alone: without x there, their groups and the other bits do not help them.
    if (!access.owner_x) out.push_back(user_who(access.owner_uid, Who::Via::owner));
    for (const auto& u : access.users)
        if (u.id != access.owner_uid && !(u.execute && mask)) out.push_back(user_who(u.id, Who::Via::acl));
    // A group that matches without x refuses its members the other bits.
    if (access.other_x) {
        if (!group_grants) out.push_back(group_who(access.owner_gid, Who::Via::group));
        for (const auto& g : access.groups)
            if (!(g.execute && mask)) out.push_back(group_who(g.id, Who::Via::acl));
    }
    return out;
}

std::vector<std::string> texts(const std::vector<Who>& who) {
    std::vector<std::string> out;
    out.reserve(who.size());
    for (const auto& w : who) out.push_back(w.text());
    return out;
}

}  // namespace portauth
