#include "engine/compile.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

namespace portauth {

// The two halves consider the same supplementary groups: the decision
// (policy/decide.cpp) the lowest kMaxGroupsConsidered, the kernel program the
// lowest PA_MAX_GROUPS (lib/engine/portauth.bpf.c).
static_assert(kMaxGroupsConsidered == PA_MAX_GROUPS, "the decision and the kernel program must see the same groups");

namespace {

struct AddrKeyLess {
    bool operator()(const pa_addr_key& a, const pa_addr_key& b) const { return std::memcmp(&a, &b, sizeof a) < 0; }
};

uint8_t family_of(const Address& a) { return a.is_v4() ? PA_FAMILY_V4 : PA_FAMILY_V6; }

class Compiler {
public:
    explicit Compiler(KernelImage& image) : img_(image) {}

    uint32_t add_rule(uint32_t kind, const AccessSpec* access, const Origin& origin) {
        pa_rule r{};
        r.kind = kind;
        if (access) {
            r.owner_uid = access->owner_uid;
            r.owner_gid = access->owner_gid;
            r.owner_x = access->owner_x;
            r.group_x = access->group_x;
            r.other_x = access->other_x;
            r.has_acl = access->has_acl;
            r.mask_x = access->has_acl ? access->mask_x : 1;
        }
        const auto id = static_cast<uint32_t>(img_.rules.size());
        img_.rules.push_back(r);
        img_.rule_names.push_back(origin.str().substr(0, PA_RULE_NAME_LEN - 1));
        if (access && access->has_acl) {
            for (const auto& u : access->users) img_.acl.push_back({pa_acl_key{id, PA_ACL_USER, u.id}, u.execute});
            for (const auto& g : access->groups) img_.acl.push_back({pa_acl_key{id, PA_ACL_GROUP, g.id}, g.execute});
        }
        return id;
    }

    pa_port& port(uint16_t p) { return ports_[p]; }

    Status append(pa_rule_list& list, uint32_t rule, const std::string& what) {
        if (list.count >= PA_MAX_RULES_PER_PORT)
            return logic_error(what + ": more than " + std::to_string(PA_MAX_RULES_PER_PORT) +
                               " rules on one port (the kernel engine's limit)");
        list.rule[list.count++] = rule;
        if (++expanded_ > kMaxKernelEntries)
            return logic_error("the policy expands to more than " + std::to_string(kMaxKernelEntries) +
                               " kernel entries; use fewer or narrower port ranges");
        return {};
    }

    void finish() {
        for (auto& [p, v] : ports_) img_.ports.push_back({p, v});
        for (auto& [k, v] : byaddr_) img_.byaddr.push_back({k, v.second});
        for (auto& [k, v] : byuid_) img_.byuid.push_back({pa_uid_key{k.first, k.second, 0}, v});
        for (auto& [k, v] : resv_) img_.resv.push_back({pa_resv_key{k.first, k.second, 0}, v});
    }

    std::map<uint16_t, pa_port> ports_;
    std::map<pa_addr_key, std::pair<int, uint32_t>, AddrKeyLess> byaddr_;   // key -> (rank, rule)
    std::map<std::pair<uint32_t, uint16_t>, pa_rule_list> byuid_;
    std::map<std::pair<uint16_t, uint8_t>, pa_rule_list> resv_;

private:
    KernelImage& img_;
    size_t expanded_ = 0;
};

}  // namespace

Result<KernelImage> compile_policy(const Policy& policy) {
    KernelImage img;
    img.root_exempt = policy.settings.root_exempt;
    Compiler c(img);

    for (const auto& r : policy.reservations) {
        const uint32_t id = c.add_rule(PA_RULE_RESERVE, &r.access, r.origin);
        pa_rule& rule = img.rules[id];
        rule.proto = static_cast<uint8_t>(r.proto);
        if (r.addr) {
            rule.family = family_of(*r.addr);
            std::memcpy(rule.low, r.addr->bytes.data(), 16);
            std::memcpy(rule.high, r.addr->bytes.data(), 16);
        }
        for (uint32_t port = r.port_min; port <= r.port_max; ++port) {
            auto& list = c.resv_[{static_cast<uint16_t>(port), rule.proto}];
            PA_TRY(c.append(list, id, r.origin.str() + " (" + proto_name(r.proto) + " port " + std::to_string(port) + ")"));
            c.port(static_cast<uint16_t>(port)).flags |= r.proto == Proto::tcp ? PA_PORT_RESV_TCP : PA_PORT_RESV_UDP;
            img.reserved_ports.insert(static_cast<uint16_t>(port));
        }
    }

    for (const auto& g : policy.port_grants) {
        const uint32_t id = c.add_rule(PA_RULE_BYPORT, &g.access, g.origin);
        pa_port& p = c.port(g.port);
        p.byport_rule = id;
        p.flags |= PA_PORT_BYPORT;
    }

    // Lowest rank first: of several spellings of one address, authbind consults that one.
    std::vector<const AddrGrant*> addr_grants;
    for (const auto& g : policy.addr_grants) addr_grants.push_back(&g);
    std::stable_sort(addr_grants.begin(), addr_grants.end(),
                     [](const AddrGrant* a, const AddrGrant* b) { return a->rank < b->rank; });
    for (const AddrGrant* gp : addr_grants) {
        const AddrGrant& g = *gp;
        pa_addr_key key{};
        key.port = g.port;
        key.family = family_of(g.addr);
        std::memcpy(key.addr, g.addr.bytes.data(), 16);
        auto it = c.byaddr_.find(key);
        if (it != c.byaddr_.end()) continue;  // authbind never reaches this spelling
        const uint32_t id = c.add_rule(PA_RULE_BYADDR, &g.access, g.origin);
        c.byaddr_[key] = {g.rank, id};
        c.port(g.port).flags |= PA_PORT_BYADDR;
    }

    for (const auto& f : policy.uid_grants) {
        for (const auto& line : f.lines) {
            const uint32_t id = c.add_rule(PA_RULE_BYUID, nullptr, line.origin);
            pa_rule& rule = img.rules[id];
            rule.family = family_of(line.addrs.low);
            std::memcpy(rule.low, line.addrs.low.bytes.data(), 16);
            std::memcpy(rule.high, line.addrs.high.bytes.data(), 16);
            for (uint32_t port = line.port_min; port <= line.port_max; ++port) {
                // byuid/!UID speaks for ports 512-1023 only, byuid/UID for the others.
                if (needs_bang(static_cast<uint16_t>(port)) != f.bang) continue;
                auto& list = c.byuid_[{f.uid, static_cast<uint16_t>(port)}];
                PA_TRY(c.append(list, id, line.origin.str() + " (port " + std::to_string(port) + ")"));
                c.port(static_cast<uint16_t>(port)).flags |= PA_PORT_BYUID;
            }
        }
    }
    c.finish();
    return img;
}

}  // namespace portauth
