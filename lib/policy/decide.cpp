#include "policy/decide.hpp"

#include <algorithm>
#include <optional>

namespace portauth {

namespace {

std::vector<uint32_t> considered_groups(const Credentials& creds) {
    std::vector<uint32_t> groups = creds.groups;
    std::sort(groups.begin(), groups.end());
    groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
    if (groups.size() > kMaxGroupsConsidered) groups.resize(kMaxGroupsConsidered);
    return groups;
}

const AclEntry* find_entry(const std::vector<AclEntry>& entries, uint32_t id) {
    for (const auto& e : entries)
        if (e.id == id) return &e;
    return nullptr;
}

std::string who(const Credentials& c) { return "uid " + std::to_string(c.euid); }

std::string describe(const BindRequest& r) {
    return std::string(proto_name(r.proto)) + "/" + std::to_string(r.port) + "@" + r.addr.str_bracketed();
}

}  // namespace

namespace {

// The access(2) walk for X_OK: the owner class, then a named user entry,
// then the groups (the owning group and named group entries: any one with x
// grants, a match without x refuses), then the other class. `from_owner`
// false skips the owner class: what the entry would say to a non-owner.
AccessVerdict walk(const AccessSpec& a, const Credentials& creds, bool from_owner) {
    if (from_owner && creds.euid == a.owner_uid) return {a.owner_x, AccessClass::owner, a.owner_uid, false};
    const bool mask = a.has_acl ? a.mask_x : true;
    if (a.has_acl) {
        if (const AclEntry* u = find_entry(a.users, creds.euid))
            return {u->execute && mask, AccessClass::named_user, u->id, u->execute && !mask};
    }
    std::optional<AccessVerdict> refusing;   // the first group that matched without x
    std::vector<uint32_t> gids = considered_groups(creds);
    gids.insert(gids.begin(), creds.egid);
    for (uint32_t gid : gids) {
        if (gid == a.owner_gid) {
            if (a.group_x && mask) return {true, AccessClass::owning_group, gid, false};
            if (!refusing) refusing = AccessVerdict{false, AccessClass::owning_group, gid, a.group_x};
        }
        if (a.has_acl) {
            if (const AclEntry* g = find_entry(a.groups, gid)) {
                if (g->execute && mask) return {true, AccessClass::named_group, gid, false};
                if (!refusing) refusing = AccessVerdict{false, AccessClass::named_group, gid, g->execute};
            }
        }
    }
    if (refusing) return *refusing;
    return {a.other_x, AccessClass::other, 0, false};
}

std::string class_name(const AccessVerdict& v) {
    switch (v.by) {
        case AccessClass::owner: return "the owner class";
        case AccessClass::named_user: return "the ACL entry user:" + std::to_string(v.id);
        case AccessClass::owning_group: return "the group class (gid " + std::to_string(v.id) + ")";
        case AccessClass::named_group: return "the ACL entry group:" + std::to_string(v.id);
        case AccessClass::other: return "the other class";
    }
    return "the other class";
}

}  // namespace

AccessVerdict check_execute(const AccessSpec& a, const Credentials& creds) { return walk(a, creds, true); }

bool may_execute(const AccessSpec& a, const Credentials& creds) { return walk(a, creds, true).granted; }

namespace {

// explain_execute for a verdict already walked.
std::string explain_verdict(const AccessSpec& a, const Credentials& creds, const AccessVerdict& v) {
    std::string out;
    switch (v.by) {
        case AccessClass::owner: out = who(creds) + " owns the entry, so the owner class decides"; break;
        case AccessClass::named_user: out = "the ACL names " + who(creds) + ", so its entry user:" + std::to_string(v.id) + " decides"; break;
        case AccessClass::owning_group:
            out = "gid " + std::to_string(v.id) + " is the entry's group, so the group class decides";
            break;
        case AccessClass::named_group:
            out = "gid " + std::to_string(v.id) + " has the ACL entry group:" + std::to_string(v.id) + ", which decides";
            break;
        case AccessClass::other:
            out = who(creds) + " is neither the owner nor in a group the entry names, so the other class decides";
            break;
    }
    if (v.granted) return out + ": x";
    out += v.masked ? ": x, but the ACL mask has no x" : ": no x";
    if (v.by == AccessClass::owner) {
        // access(2) never falls through from the owner class: the surprise worth naming.
        const AccessVerdict rest = walk(a, creds, false);
        if (rest.granted) out += "; " + class_name(rest) + " would have granted";
    }
    return out;
}

}  // namespace

std::string explain_execute(const AccessSpec& a, const Credentials& creds) { return explain_verdict(a, creds, walk(a, creds, true)); }

bool collides(const Reservation& r, const BindRequest& req) {
    if (r.proto != req.proto || req.port < r.port_min || req.port > r.port_max) return false;
    if (!r.addr) return true;
    if (req.addr.is_wildcard()) {
        if (r.addr->family == req.addr.family) return true;
        // See BindRequest::v6only.
        return !req.addr.is_v4() && !req.v6only && r.addr->is_v4();
    }
    return *r.addr == req.addr;
}

namespace {

// authbind's order; the first entry that exists decides. nullopt: none exists.
struct GrantAnswer {
    Origin origin;
    bool granted;
    std::string why;   // which class of the entry decided (empty for byuid lines)
};

// One walk of the entry's permissions gives the verdict and its explanation.
GrantAnswer answer(const Origin& origin, const AccessSpec& a, const Credentials& creds) {
    const AccessVerdict v = walk(a, creds, true);
    return GrantAnswer{origin, v.granted, explain_verdict(a, creds, v)};
}

std::optional<GrantAnswer> find_grant(const Policy& p, const BindRequest& req, const Credentials& creds) {
    for (const auto& g : p.port_grants)
        if (g.port == req.port) return answer(g.origin, g.access, creds);
    const AddrGrant* best = nullptr;
    for (const auto& g : p.addr_grants)
        if (g.port == req.port && g.addr == req.addr && (!best || g.rank < best->rank)) best = &g;
    if (best) return answer(best->origin, best->access, creds);
    const bool bang = needs_bang(req.port);
    for (const auto& f : p.uid_grants) {
        if (f.uid != creds.euid || f.bang != bang) continue;
        for (const auto& line : f.lines)
            if (req.port >= line.port_min && req.port <= line.port_max && line.addrs.contains(req.addr))
                return GrantAnswer{line.origin, true, ""};
    }
    return std::nullopt;
}

}  // namespace

Decision decide(const Policy& p, const BindRequest& req, const Credentials& creds, const HostFacts& host) {
    Decision d;
    const bool exempt = p.settings.root_exempt && creds.euid == 0;
    bool owner = false;
    for (const auto& r : p.reservations) {
        if (!collides(r, req)) continue;
        if (exempt) {
            d.rule = r.origin;
            continue;
        }
        if (const AccessVerdict v = walk(r.access, creds, true); !v.granted) {
            d.allowed = false;
            d.refused_by_policy = true;
            d.by = DecidedBy::reservation;
            d.rule = r.origin;
            d.reason = describe(req) + " is reserved by " + r.origin.str() + " and " + who(creds) +
                       " is not among its owners (" + explain_verdict(r.access, creds, v) + ")";
            return d;
        }
        owner = true;
        d.rule = r.origin;
    }
    if (owner) {
        d.allowed = true;
        d.cap_waived = true;
        d.by = DecidedBy::reservation;
        d.reason = who(creds) + " owns the reservation " + d.rule->str();
        return d;
    }
    // uid 0 passes reservations (root-exempt = yes); grants and the kernel's rules still apply.
    const std::string exempt_note =
        exempt && d.rule ? "uid 0 is exempt from the reservation " + d.rule->str() + " (root-exempt = yes); " : "";
    d.rule.reset();

    const bool privileged = req.port < host.unprivileged_port_start;
    if (auto grant = find_grant(p, req, creds)) {
        d.rule = grant->origin;
        d.by = DecidedBy::grant;
        if (grant->granted) {
            d.allowed = true;
            d.cap_waived = true;
            d.reason = exempt_note + grant->origin.str() + " grants " + describe(req) + " to " + who(creds);
            return d;
        }
        d.allowed = !privileged || host.cap_net_bind_service;
        d.reason = exempt_note + grant->origin.str() + " exists but does not grant it to " + who(creds) + " (" + grant->why + ")" +
                   (privileged ? (host.cap_net_bind_service ? "; allowed by CAP_NET_BIND_SERVICE"
                                                            : "; the port is privileged and the process lacks CAP_NET_BIND_SERVICE")
                               : "; the port is not privileged, so the kernel allows it");
        return d;
    }
    d.by = DecidedBy::kernel;
    // A reservation did mention the port (and root passed it): only grants are absent.
    const char* none_mentions = exempt_note.empty() ? "no entry mentions " : "no grant mentions ";
    const char* none_grants = exempt_note.empty() ? "no entry grants " : "no grant gives ";
    if (!privileged) {
        d.allowed = true;
        d.reason = exempt_note + none_mentions + describe(req) + "; the port is not privileged";
    } else if (host.cap_net_bind_service) {
        d.allowed = true;
        d.reason = exempt_note + none_mentions + describe(req) + "; allowed by CAP_NET_BIND_SERVICE";
    } else {
        d.allowed = false;
        d.reason = exempt_note + none_grants + describe(req) + " to " + who(creds) + " and port " + std::to_string(req.port) +
                   " is privileged (below ip_unprivileged_port_start=" + std::to_string(host.unprivileged_port_start) + ")";
    }
    return d;
}

}  // namespace portauth
