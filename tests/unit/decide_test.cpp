// The pure decision: authbind's lookup order, POSIX ACL evaluation,
// reservations and what a bind covers.
#include <gtest/gtest.h>

#include "policy/decide.hpp"

using namespace portauth;

namespace {

AccessSpec owner_only(uint32_t uid, uint32_t gid = 0) {
    AccessSpec a;
    a.owner_uid = uid;
    a.owner_gid = gid;
    a.owner_x = true;
    return a;
}

Credentials user(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) { return {uid, gid, std::move(groups)}; }

BindRequest bind(Proto p, const char* addr, uint16_t port) { return {p, *Address::parse(addr), port}; }

const HostFacts kNoCap{1024, false};

}  // namespace

TEST(DecideAccess, OwnerBitsDecideForTheOwnerEvenWhenOthersMayExecute) {
    AccessSpec a;
    a.owner_uid = 51000;
    a.owner_x = false;
    a.other_x = true;
    EXPECT_FALSE(may_execute(a, user(51000, 51000)));
    EXPECT_TRUE(may_execute(a, user(51001, 51001)));
}

TEST(DecideAccess, GroupClassMatchStopsFallThroughToOther) {
    AccessSpec a;
    a.owner_uid = 0;
    a.owner_gid = 52000;
    a.group_x = false;
    a.other_x = true;
    EXPECT_FALSE(may_execute(a, user(51000, 51000, {52000})));
    EXPECT_TRUE(may_execute(a, user(51000, 51000, {53000})));
}

TEST(DecideAccess, AclNamedUserIsMasked) {
    AccessSpec a;
    a.has_acl = true;
    a.mask_x = false;
    a.users = {{51000, true}};
    EXPECT_FALSE(may_execute(a, user(51000, 51000)));
    a.mask_x = true;
    EXPECT_TRUE(may_execute(a, user(51000, 51000)));
}

TEST(DecideAccess, AclNamedGroupGrantsThroughSupplementaryGroup) {
    AccessSpec a;
    a.has_acl = true;
    a.mask_x = true;
    a.groups = {{52000, true}};
    EXPECT_TRUE(may_execute(a, user(51000, 51000, {52000})));
    EXPECT_FALSE(may_execute(a, user(51000, 51000, {52001})));
}

TEST(DecideAccess, OnlyTheLowestGroupsCount) {
    AccessSpec a;
    a.owner_gid = 60000;
    a.group_x = true;
    std::vector<uint32_t> groups;
    for (uint32_t g = 0; g < kMaxGroupsConsidered; ++g) groups.push_back(1000 + g);
    groups.push_back(60000);   // the 65th group in sorted order: beyond what the kernel engine reads
    EXPECT_FALSE(may_execute(a, user(51000, 51000, groups)));
    groups.pop_back();
    groups.push_back(500);     // sorted first: counts
    a.owner_gid = 500;
    EXPECT_TRUE(may_execute(a, user(51000, 51000, groups)));
}

TEST(DecideGrants, ByportThatExistsDecidesEvenWhenItRefuses) {
    Policy p;
    p.port_grants.push_back({80, owner_only(51001), {"byport/80"}});
    p.uid_grants.push_back({51000, false, {{{Address::any4(), *Address::parse("255.255.255.255")}, 80, 80, {"byuid/51000", 1}}}, {"byuid/51000"}});
    Decision d = decide(p, bind(Proto::tcp, "0.0.0.0", 80), user(51000, 51000), kNoCap);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.by, DecidedBy::grant);
    EXPECT_EQ(d.rule->file, "byport/80");
    d = decide(p, bind(Proto::tcp, "0.0.0.0", 80), user(51001, 51001), kNoCap);
    EXPECT_TRUE(d.allowed);
    EXPECT_TRUE(d.cap_waived);
}

TEST(DecideGrants, ByaddrLowestRankWins) {
    Policy p;
    AccessSpec nobody;
    p.addr_grants.push_back({*Address::parse("127.0.0.1"), 80, 1, owner_only(51000), {"byaddr/127.0.0.1,80"}});
    p.addr_grants.push_back({*Address::parse("127.0.0.1"), 80, 0, nobody, {"byaddr/127.0.0.1:80"}});
    Decision d = decide(p, bind(Proto::udp, "127.0.0.1", 80), user(51000, 51000), kNoCap);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.rule->file, "byaddr/127.0.0.1:80");
}

TEST(DecideGrants, ByuidBangFileCoversOnly512To1023) {
    Policy p;
    AddressRange all4{Address::any4(), *Address::parse("255.255.255.255")};
    p.uid_grants.push_back({51000, false, {{all4, 1, 2000, {"byuid/51000", 1}}}, {"byuid/51000"}});
    EXPECT_TRUE(decide(p, bind(Proto::tcp, "10.0.0.1", 80), user(51000, 1), kNoCap).allowed);
    EXPECT_FALSE(decide(p, bind(Proto::tcp, "10.0.0.1", 600), user(51000, 1), kNoCap).allowed);
    EXPECT_FALSE(decide(p, bind(Proto::tcp, "::1", 80), user(51000, 1), kNoCap).allowed) << "IPv4 lines do not cover IPv6";
}

TEST(DecideGrants, V4MappedAddressIsTheIpv4Address) {
    Policy p;
    p.addr_grants.push_back({*Address::parse("127.0.0.1"), 80, 0, owner_only(51000), {"byaddr/127.0.0.1,80"}});
    EXPECT_TRUE(decide(p, bind(Proto::tcp, "::ffff:127.0.0.1", 80), user(51000, 1), kNoCap).allowed);
}

TEST(DecideReservations, WildcardBindCollidesWithAddressSpecificReservation) {
    Policy p;
    Reservation r;
    r.proto = Proto::udp;
    r.port_min = r.port_max = 5060;
    r.addr = *Address::parse("127.0.0.1");
    r.access = owner_only(51001);
    r.origin = {"reserve/udp/5060@127.0.0.1"};
    p.reservations.push_back(r);
    EXPECT_TRUE(decide(p, bind(Proto::udp, "0.0.0.0", 5060), user(51000, 1), kNoCap).refused_by_policy);
    EXPECT_TRUE(decide(p, bind(Proto::udp, "::", 5060), user(51000, 1), kNoCap).refused_by_policy)
        << "a dual-stack IPv6 wildcard takes the IPv4 address too";
    EXPECT_FALSE(decide(p, bind(Proto::udp, "127.0.0.2", 5060), user(51000, 1), kNoCap).refused_by_policy);
    EXPECT_FALSE(decide(p, bind(Proto::tcp, "127.0.0.1", 5060), user(51000, 1), kNoCap).refused_by_policy);
    Decision owner = decide(p, bind(Proto::udp, "0.0.0.0", 5060), user(51001, 1), kNoCap);
    EXPECT_TRUE(owner.allowed);
    EXPECT_TRUE(owner.cap_waived);
}

TEST(DecideReservations, RootExemptUnlessStrict) {
    Policy p;
    Reservation r;
    r.proto = Proto::tcp;
    r.port_min = 80;
    r.port_max = 90;
    r.access = owner_only(51001);
    r.origin = {"reserve/tcp/80-90"};
    p.reservations.push_back(r);
    HostFacts root_caps{1024, true};
    EXPECT_TRUE(decide(p, bind(Proto::tcp, "0.0.0.0", 85), user(0, 0), root_caps).allowed);
    p.settings.root_exempt = false;
    Decision d = decide(p, bind(Proto::tcp, "0.0.0.0", 85), user(0, 0), root_caps);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.rule->file, "reserve/tcp/80-90");
}

TEST(DecideKernel, PrivilegedPortWithoutGrantNeedsTheCapability) {
    Policy p;
    EXPECT_FALSE(decide(p, bind(Proto::tcp, "0.0.0.0", 80), user(51000, 1), kNoCap).allowed);
    EXPECT_TRUE(decide(p, bind(Proto::tcp, "0.0.0.0", 80), user(51000, 1), HostFacts{1024, true}).allowed);
    EXPECT_TRUE(decide(p, bind(Proto::tcp, "0.0.0.0", 8080), user(51000, 1), kNoCap).allowed);
}

namespace {

// One reservation owned by uid 51001 on `addr` (nullopt: every address).
Policy reserved_on(Proto proto, std::optional<const char*> addr) {
    Policy p;
    Reservation r;
    r.proto = proto;
    r.port_min = r.port_max = 7000;
    if (addr) r.addr = *Address::parse(*addr);
    r.access = owner_only(51001);
    r.origin = {std::string("reserve/") + proto_name(proto) + "/7000" + (addr ? std::string("@") + *addr : "")};
    p.reservations.push_back(r);
    return p;
}

BindRequest wildcard6(Proto proto, bool v6only) {
    BindRequest req = bind(proto, "::", 7000);
    req.v6only = v6only;
    return req;
}

}  // namespace

TEST(DecideReservations, V6onlyWildcardLeavesIpv4ReservationsAlone) {
    for (Proto proto : {Proto::tcp, Proto::udp}) {
        SCOPED_TRACE(proto_name(proto));
        const Policy p = reserved_on(proto, "127.0.0.1");
        EXPECT_FALSE(collides(p.reservations[0], wildcard6(proto, true)));
        Decision v6only = decide(p, wildcard6(proto, true), user(51000, 1), kNoCap);
        EXPECT_TRUE(v6only.allowed) << v6only.reason;
        EXPECT_FALSE(v6only.refused_by_policy);
        EXPECT_FALSE(v6only.rule.has_value()) << "no entry speaks for an IPv6-only bind";
        Decision dual = decide(p, wildcard6(proto, false), user(51000, 1), kNoCap);
        EXPECT_FALSE(dual.allowed);
        EXPECT_TRUE(dual.refused_by_policy) << "a dual-stack wildcard takes 127.0.0.1 too";
        EXPECT_EQ(dual.rule->file, "reserve/" + std::string(proto_name(proto)) + "/7000@127.0.0.1");
        EXPECT_TRUE(decide(p, bind(proto, "0.0.0.0", 7000), user(51000, 1), kNoCap).refused_by_policy)
            << "v6only means nothing for an IPv4 wildcard";
    }
}

TEST(DecideReservations, V6onlyWildcardStillTakesIpv6AndAllAddressReservations) {
    for (Proto proto : {Proto::tcp, Proto::udp}) {
        for (std::optional<const char*> addr : {std::optional<const char*>("::1"), std::optional<const char*>()}) {
            for (bool v6only : {false, true}) {
                SCOPED_TRACE(std::string(proto_name(proto)) + " reserved on " + (addr ? *addr : "every address") +
                             (v6only ? ", v6only" : ", dual-stack"));
                const Policy p = reserved_on(proto, addr);
                EXPECT_TRUE(collides(p.reservations[0], wildcard6(proto, v6only)));
                Decision d = decide(p, wildcard6(proto, v6only), user(51000, 1), kNoCap);
                EXPECT_FALSE(d.allowed);
                EXPECT_TRUE(d.refused_by_policy);
                EXPECT_TRUE(decide(p, wildcard6(proto, v6only), user(51001, 1), kNoCap).allowed) << "the owner binds it";
            }
        }
    }
}

TEST(DecideReservations, V6onlyChangesNothingForASpecificIpv6Address) {
    const Policy p = reserved_on(Proto::tcp, "127.0.0.1");
    BindRequest req = bind(Proto::tcp, "::1", 7000);
    req.v6only = true;
    EXPECT_TRUE(decide(p, req, user(51000, 1), kNoCap).allowed);
    const Policy v6 = reserved_on(Proto::tcp, "::1");
    EXPECT_TRUE(decide(v6, req, user(51000, 1), kNoCap).refused_by_policy);
}

// The authbind convention -rw-r-xr-- U:U refuses U itself: access(2) judges
// the owner by the owner bits alone. check says which class decided.
namespace {

AccessSpec mode_0654(uint32_t uid, uint32_t gid) {
    AccessSpec a;
    a.owner_uid = uid;
    a.owner_gid = gid;
    a.group_x = true;
    return a;
}

}  // namespace

TEST(DecideExplain, TheOwnerClassDecidesForTheOwnerAndSaysWhoWouldHaveGranted) {
    const AccessSpec a = mode_0654(51003, 51003);
    const AccessVerdict v = check_execute(a, user(51003, 51003));
    EXPECT_FALSE(v.granted);
    EXPECT_EQ(v.by, AccessClass::owner);
    EXPECT_EQ(explain_execute(a, user(51003, 51003)),
              "uid 51003 owns the entry, so the owner class decides: no x; the group class (gid 51003) would have granted");
    EXPECT_EQ(explain_execute(a, user(51004, 51003)), "gid 51003 is the entry's group, so the group class decides: x");

    Policy p;
    p.addr_grants.push_back({*Address::parse("127.0.0.1"), 80, 0, a, {"byaddr/127.0.0.1,80"}});
    const Decision d = decide(p, bind(Proto::tcp, "127.0.0.1", 80), user(51003, 51003), kNoCap);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.reason,
              "byaddr/127.0.0.1,80 exists but does not grant it to uid 51003 (uid 51003 owns the entry, so the owner class "
              "decides: no x; the group class (gid 51003) would have granted); the port is privileged and the process lacks "
              "CAP_NET_BIND_SERVICE");
}

TEST(DecideExplain, AclClassesAndTheMaskAreNamed) {
    AccessSpec a;
    a.owner_uid = 0;
    a.owner_gid = 0;
    a.has_acl = true;
    a.mask_x = false;
    a.users = {{51005, true}};
    a.groups = {{52005, true}};
    a.other_x = true;
    EXPECT_EQ(explain_execute(a, user(51005, 51005)),
              "the ACL names uid 51005, so its entry user:51005 decides: x, but the ACL mask has no x");
    EXPECT_EQ(explain_execute(a, user(51006, 51006, {52005})),
              "gid 52005 has the ACL entry group:52005, which decides: x, but the ACL mask has no x");
    EXPECT_EQ(check_execute(a, user(51006, 51006, {52005})).by, AccessClass::named_group);
    EXPECT_EQ(explain_execute(a, user(51007, 51007)),
              "uid 51007 is neither the owner nor in a group the entry names, so the other class decides: x");
    a.other_x = false;
    EXPECT_EQ(explain_execute(a, user(0, 0)), "uid 0 owns the entry, so the owner class decides: no x");
}

TEST(DecideExplain, ARefusingReservationSaysWhichClassDecided) {
    Policy p;
    Reservation r;
    r.proto = Proto::udp;
    r.port_min = r.port_max = 5060;
    r.access = mode_0654(51003, 51003);
    r.origin = {"reserve/udp/5060"};
    p.reservations.push_back(r);
    const Decision d = decide(p, bind(Proto::udp, "0.0.0.0", 5060), user(51003, 51003), kNoCap);
    EXPECT_TRUE(d.refused_by_policy);
    EXPECT_EQ(d.reason,
              "udp/5060@0.0.0.0 is reserved by reserve/udp/5060 and uid 51003 is not among its owners (uid 51003 owns the "
              "entry, so the owner class decides: no x; the group class (gid 51003) would have granted)");
}

// Root passes a reservation that mentions the port: the reason says so once
// and does not claim that no entry mentions it.
TEST(DecideExplain, RootExemptionIsNotContradicted) {
    Policy p;
    Reservation r;
    r.proto = Proto::udp;
    r.port_min = r.port_max = 5060;
    r.access = owner_only(51001);
    r.origin = {"reserve/udp/5060"};
    p.reservations.push_back(r);
    const Decision d = decide(p, bind(Proto::udp, "0.0.0.0", 5060), user(0, 0), HostFacts{1024, true});
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.reason,
              "uid 0 is exempt from the reservation reserve/udp/5060 (root-exempt = yes); no grant mentions "
              "udp/5060@0.0.0.0; the port is not privileged");
    const Decision no_cap = decide(p, bind(Proto::udp, "0.0.0.0", 5060), user(0, 0), HostFacts{6000, false});
    EXPECT_EQ(no_cap.reason,
              "uid 0 is exempt from the reservation reserve/udp/5060 (root-exempt = yes); no grant gives udp/5060@0.0.0.0 "
              "to uid 0 and port 5060 is privileged (below ip_unprivileged_port_start=6000)");
}
