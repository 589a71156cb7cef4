// The last good policy's text form (policy/snapshot.hpp): a loaded policy
// comes back exactly, hostile file names and reasons cannot forge records,
// the hash follows the content and not the place, drift is named entry by
// entry, and damaged text is refused with the line at fault.
#include <gtest/gtest.h>

#include "common/sha256.hpp"
#include "policy/snapshot.hpp"

namespace portauth {
namespace {

AccessSpec acl_for(uint32_t uid) {
    AccessSpec a;
    a.has_acl = true;
    a.mask_x = true;
    a.users = {{uid, true}};
    return a;
}

Policy sample() {
    Policy p;
    p.dir = "/etc/portauth";
    p.settings.root_exempt = false;
    p.port_grants.push_back({80, acl_for(33), {"byport/80", 0}});
    p.addr_grants.push_back({*Address::parse("::1"), 443, 0, acl_for(33), {"byaddr/::1,443", 0}});
    p.addr_grants.push_back({*Address::parse("127.0.0.1"), 8080, 2, acl_for(34), {"byaddr/::ffff:127.0.0.1,8080", 0}});
    UidGrantFile u;
    u.uid = 1001;
    u.bang = true;
    u.origin = {"byuid/!1001", 0};
    u.lines.push_back({{*Address::parse("10.0.0.0"), *Address::parse("10.0.0.255")}, 600, 610, {"byuid/!1001", 3}});
    p.uid_grants.push_back(u);
    Reservation r;
    r.proto = Proto::udp;
    r.port_min = r.port_max = 5060;
    r.access = acl_for(52001);
    r.origin = {"reserve/udp/5060", 0};
    p.reservations.push_back(r);
    r.proto = Proto::tcp;
    r.port_min = 6000, r.port_max = 6099;
    r.addr = Address::parse("fe80::1");
    r.origin = {"reserve/tcp/6000-6099@fe80::1", 0};
    p.reservations.push_back(r);
    p.disabled.push_back({{"reserve/udp/5090", 0}, "writable by group or other (mode 0570)\nportauth: ok forged"});
    return p;
}

TEST(Snapshot, RoundTripsEveryKindOfEntry) {
    const Policy p = sample();
    const std::string text = serialize_policy(p);
    auto back = parse_policy(text, "test");
    ASSERT_TRUE(back) << back.error().message() << "\n" << text;
    EXPECT_EQ(serialize_policy(*back), text);
    EXPECT_FALSE(back->settings.root_exempt);
    ASSERT_EQ(back->addr_grants.size(), 2u);
    EXPECT_EQ(back->addr_grants[1].addr, *Address::parse("127.0.0.1"));
    EXPECT_EQ(back->addr_grants[1].rank, 2);
    ASSERT_EQ(back->uid_grants.size(), 1u);
    EXPECT_EQ(back->uid_grants[0].lines.at(0).origin.line, 3);
    EXPECT_EQ(back->reservations.at(1).addr, Address::parse("fe80::1"));
    ASSERT_EQ(back->disabled.size(), 1u);
    EXPECT_EQ(back->disabled[0].reason, p.disabled[0].reason) << "a newline in a reason survives, encoded";
    EXPECT_TRUE(back->dir.empty());
}

TEST(Snapshot, HostileStringsCannotForgeRecords) {
    Policy p = sample();
    p.disabled[0].origin.file = "x\nport 81 byport/81 0 0 1 1 1 0 1 - -";
    const std::string text = serialize_policy(p);
    auto back = parse_policy(text, "test");
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->port_grants.size(), 1u) << "no grant slipped in through a file name";
    EXPECT_EQ(back->disabled.at(0).origin.file, p.disabled[0].origin.file);
}

TEST(Snapshot, TheHashFollowsTheContentNotThePlace) {
    Policy a = sample(), b = sample();
    b.dir = "/srv/elsewhere";
    EXPECT_EQ(policy_hash(a), policy_hash(b));
    EXPECT_EQ(policy_hash(a).size(), 64u);
    b.port_grants[0].access.users[0].id = 34;
    EXPECT_NE(policy_hash(a), policy_hash(b));
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(std::string(56, 'x')), "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
}

TEST(Snapshot, DriftIsNamedEntryByEntry) {
    const Policy applied = sample();
    Policy now = sample();
    EXPECT_TRUE(policy_drift(applied, now).empty());
    now.port_grants[0].access.users.push_back({65534, true});       // setfacl on byport/80
    now.reservations.erase(now.reservations.begin());              // rm reserve/udp/5060
    now.port_grants.push_back({81, acl_for(33), {"byport/81", 0}});   // a new file
    now.settings.root_exempt = true;                                 // portauth.conf
    const PolicyDrift d = policy_drift(applied, now);
    EXPECT_EQ(d.added, std::vector<std::string>{"byport/81"});
    EXPECT_EQ(d.removed, std::vector<std::string>{"reserve/udp/5060"});
    EXPECT_EQ(d.changed, (std::vector<std::string>{"byport/80", "portauth.conf"}));
    EXPECT_EQ(d.summary(), "1 entry added (byport/81), 1 entry removed (reserve/udp/5060), 2 entries changed (byport/80, portauth.conf)");
}

TEST(Snapshot, DamagedTextIsRefusedWithTheLine) {
    const std::string good = serialize_policy(sample());
    EXPECT_FALSE(parse_policy("", "t"));
    EXPECT_FALSE(parse_policy("something else\n", "t"));
    EXPECT_FALSE(parse_policy(good.substr(0, good.size() - 1), "t")) << "cut short";
    auto r = parse_policy(good + "port 99999 byport/x 0 0 1 1 1 0 1 - -\n", "'snap'");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("'snap' line "), std::string::npos) << r.error().message();
    EXPECT_FALSE(parse_policy(good + "uidline 10.0.0.0 ::1 1 2 f 1\n", "t")) << "mixed families";
    EXPECT_FALSE(parse_policy(good + "port 80 byport/80 0 0 1 1 1 0 1 5:x -\n", "t")) << "bad ACL list";
    EXPECT_FALSE(parse_policy(good + "disabled a%Z 0 r\n", "t")) << "bad percent escape";
    EXPECT_FALSE(parse_policy("portauth-policy 1\n", "t")) << "no settings record";
}

}  // namespace
}  // namespace portauth
