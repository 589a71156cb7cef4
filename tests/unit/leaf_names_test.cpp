// The leaf-name grammar alone (lib/policy/leaf_names.hpp): every spelling the
// loader accepts and the exact sentence for each it refuses. tree_test.cpp
// checks that the loader puts the entry's path in front of these sentences.
#include <gtest/gtest.h>

#include <string>

#include "policy/leaf_names.hpp"
#include "address_literal.hpp"
#include "refusal_table.hpp"

namespace portauth {
namespace {

using namespace std::string_literals;

const std::string kNotByport = "not a policy entry: byport holds files named PORT (1-65535), or !PORT for ports 512-1023";
const std::string kNotByaddr =
    "not a policy entry: byaddr holds files named ADDR,PORT or ADDR4:PORT (with '!' before ports 512-1023)";
const std::string kNotByuid = "not a policy entry: byuid holds files named UID or !UID (UID in decimal)";
const std::string kNotInPolicyDir =
    "not a policy entry: the policy dir holds byport, byaddr, byuid, reserve, portauth.conf and README";

TEST(LeafNamesPolicyDir, KnownNames) {
    struct Case {
        const char* name;
        PolicyDirEntry entry;
    };
    for (const Case& c : {Case{"byport", PolicyDirEntry::byport}, Case{"byaddr", PolicyDirEntry::byaddr},
                          Case{"byuid", PolicyDirEntry::byuid}, Case{"reserve", PolicyDirEntry::reserve},
                          Case{"portauth.conf", PolicyDirEntry::conf}, Case{"README", PolicyDirEntry::readme},
                          Case{"README.md", PolicyDirEntry::readme}}) {
        auto e = parse_policy_dir_name(c.name);
        ASSERT_TRUE(e) << c.name << ": " << e.error().what;
        EXPECT_EQ(*e, c.entry) << c.name;
    }
}

TEST(LeafNamesPolicyDir, Refusals) {
    expect_refusals(parse_policy_dir_name, {Refusal{"notes.txt", kNotInPolicyDir}, Refusal{"readme", kNotInPolicyDir},
                             Refusal{"byport ", kNotInPolicyDir}, Refusal{"", kNotInPolicyDir},
                             Refusal{"byuid\0x"s, kNotInPolicyDir}, Refusal{"portauth.conf~", kNotInPolicyDir},
                             Refusal{".portauth-new.0123456789abcdef", "a temporary file left by an interrupted edit; remove it"}});
}

TEST(LeafNamesByport, Accepted) {
    struct Case {
        const char* name;
        uint16_t port;
    };
    for (const Case& c : {Case{"1", 1}, Case{"80", 80}, Case{"511", 511}, Case{"!512", 512}, Case{"!600", 600},
                          Case{"!1023", 1023}, Case{"1024", 1024}, Case{"65535", 65535}}) {
        auto port = parse_byport_name(c.name);
        ASSERT_TRUE(port) << c.name << ": " << port.error().what;
        EXPECT_EQ(*port, c.port) << c.name;
    }
}

TEST(LeafNamesByport, Refusals) {
    expect_refusals(parse_byport_name, {
             Refusal{"0", kNotByport},
             Refusal{"65536", kNotByport},
             Refusal{"80x", kNotByport},
             Refusal{"80~", kNotByport},
             Refusal{"1023x", kNotByport},
             Refusal{"!", kNotByport},
             Refusal{"", kNotByport},
             Refusal{"+80", kNotByport},
             Refusal{"-1", kNotByport},
             Refusal{"80 ", kNotByport},
             Refusal{" 80", kNotByport},
             Refusal{"80\r", kNotByport},
             Refusal{"!!600", kNotByport},
             Refusal{"80\0"s, kNotByport},
             Refusal{"99999999999999999999999", kNotByport},
             Refusal{".portauth-new.0123456789abcdef", kNotByport},
             Refusal{"080", "authbind would never look up this name; rename it byport/80"},
             Refusal{"!0600", "authbind would never look up this name; rename it byport/!600"},
             Refusal{"600", "ports 512-1023 need the '!' prefix (byport/!600), as in authbind"},
             Refusal{"0600", "ports 512-1023 need the '!' prefix (byport/!600), as in authbind"},
             Refusal{"!80", "the '!' prefix is only for ports 512-1023, as in authbind (byport/80)"},
             Refusal{"!1024", "the '!' prefix is only for ports 512-1023, as in authbind (byport/1024)"},
         });
}

TEST(LeafNamesByaddr, AcceptedWithRanks) {
    struct Case {
        const char* name;
        const char* addr;
        uint16_t port;
        int rank;
    };
    for (const Case& c : {
             Case{"127.0.0.1:80", "127.0.0.1", 80, 0},
             Case{"127.0.0.1,80", "127.0.0.1", 80, 1},
             Case{"!127.0.0.1:600", "127.0.0.1", 600, 0},
             Case{"!127.0.0.1,600", "127.0.0.1", 600, 1},
             Case{"0.0.0.0:80", "0.0.0.0", 80, 0},
             Case{"::1,80", "::1", 80, 0},
             Case{"0:0:0:0:0:0:0:1,80", "::1", 80, 1},
             Case{"!::1,600", "::1", 600, 0},
             Case{"::,65535", "::", 65535, 0},
             Case{"2620:106:e002:f00f::21,80", "2620:106:e002:f00f::21", 80, 0},
             Case{"2620:106:e002:f00f:0:0:0:21,80", "2620:106:e002:f00f::21", 80, 1},
             // IPv4-mapped IPv6: the IPv4 address, looked up after its IPv4 spellings.
             Case{"::ffff:1.2.3.4,80", "1.2.3.4", 80, 2},
             Case{"0:0:0:0:0:ffff:102:304,80", "1.2.3.4", 80, 3},
         }) {
        auto g = parse_byaddr_name(c.name);
        ASSERT_TRUE(g) << c.name << ": " << g.error().what;
        EXPECT_EQ(g->addr, addr(c.addr)) << c.name;
        EXPECT_EQ(g->port, c.port) << c.name;
        EXPECT_EQ(g->rank, c.rank) << c.name;
    }
    EXPECT_TRUE(parse_byaddr_name("::ffff:1.2.3.4,80")->addr.is_v4());
}

TEST(LeafNamesByaddr, Refusals) {
    const std::string never = "authbind would never look up this name; spell it ";
    expect_refusals(parse_byaddr_name, {
             Refusal{"::0001,80", never + "byaddr/::1,80 or byaddr/0:0:0:0:0:0:0:1,80"},
             Refusal{"2620:106:e002:f00f:0:0::21,80",
                     never + "byaddr/2620:106:e002:f00f::21,80 or byaddr/2620:106:e002:f00f:0:0:0:21,80"},
             Refusal{"2620:0106:e002:f00f::21,80",
                     never + "byaddr/2620:106:e002:f00f::21,80 or byaddr/2620:106:e002:f00f:0:0:0:21,80"},
             Refusal{"127.000.0.1,80", never + "byaddr/127.0.0.1:80 or byaddr/127.0.0.1,80"},
             Refusal{"!010.0.0.1:600", never + "byaddr/!10.0.0.1:600 or byaddr/!10.0.0.1,600"},
             Refusal{"::FFFF:1.2.3.4,80", never + "byaddr/::ffff:1.2.3.4,80 or byaddr/0:0:0:0:0:ffff:102:304,80"},
             Refusal{"::ffff:0102:0304,80", never + "byaddr/::ffff:1.2.3.4,80 or byaddr/0:0:0:0:0:ffff:102:304,80"},
             Refusal{"127.0.0.1,080", never + "byaddr/127.0.0.1:80 or byaddr/127.0.0.1,80"},
             Refusal{"!::1,0600", never + "byaddr/!::1,600 or byaddr/!0:0:0:0:0:0:0:1,600"},
             Refusal{"::1:80", "IPv6 entries are named ADDR,PORT; authbind never looks up ADDR:PORT for IPv6"},
             Refusal{"::ffff:1.2.3.4:80", "IPv6 entries are named ADDR,PORT; authbind never looks up ADDR:PORT for IPv6"},
             Refusal{"127.0.0.1,600", "ports 512-1023 need the '!' prefix (byaddr/!127.0.0.1,600), as in authbind"},
             Refusal{"!127.0.0.1,80", "the '!' prefix is only for ports 512-1023, as in authbind (byaddr/127.0.0.1,80)"},
             Refusal{"127.0.0.0001,80", kNotByaddr},
             Refusal{"127.0.0.1.1,80", kNotByaddr},
             Refusal{"127.0.1,80", kNotByaddr},
             Refusal{"127.0.0.1", kNotByaddr},
             Refusal{"[::1],80", kNotByaddr},
             Refusal{"127.0.0.1,0", kNotByaddr},
             Refusal{"127.0.0.1,65536", kNotByaddr},
             Refusal{"127.0.0.1,80x", kNotByaddr},
             Refusal{"0.0.0.0:80x", kNotByaddr},
             Refusal{"localhost,80", kNotByaddr},
             Refusal{"127.0.0.1,80~", kNotByaddr},
             Refusal{"127.0.0.1, 80", kNotByaddr},
             Refusal{"127.0.0.1,80\r", kNotByaddr},
             Refusal{"127.0.0.1\0,80"s, kNotByaddr},
             Refusal{",80", kNotByaddr},
             Refusal{"", kNotByaddr},
             Refusal{"!", kNotByaddr},
         });
}

TEST(LeafNamesByuid, Accepted) {
    struct Case {
        const char* name;
        uint32_t uid;
        bool bang;
    };
    for (const Case& c : {Case{"0", 0, false}, Case{"1001", 1001, false}, Case{"!1001", 1001, true},
                          Case{"4294967294", 4294967294U, false}}) {
        auto u = parse_byuid_name(c.name);
        ASSERT_TRUE(u) << c.name << ": " << u.error().what;
        EXPECT_EQ(u->uid, c.uid);
        EXPECT_EQ(u->bang, c.bang);
    }
}

TEST(LeafNamesByuid, Refusals) {
    expect_refusals(parse_byuid_name, {
             Refusal{"01001", "authbind would never look up this name; rename it byuid/1001"},
             Refusal{"!01001", "authbind would never look up this name; rename it byuid/!1001"},
             Refusal{"00", "authbind would never look up this name; rename it byuid/0"},
             Refusal{"alice", kNotByuid},
             Refusal{"4294967295", kNotByuid},
             Refusal{"-1", kNotByuid},
             Refusal{"!!1", kNotByuid},
             Refusal{"1001~", kNotByuid},
             Refusal{"1001\0"s, kNotByuid},
             Refusal{"", kNotByuid},
             Refusal{"!", kNotByuid},
         });
}

TEST(LeafNamesReserve, ProtocolDirectories) {
    EXPECT_EQ(parse_reserve_dir_name("tcp").value(), Proto::tcp);
    EXPECT_EQ(parse_reserve_dir_name("udp").value(), Proto::udp);
    const std::string not_proto = "not a policy entry: reserve holds the directories tcp and udp";
    expect_refusals(parse_reserve_dir_name, {Refusal{"sctp", not_proto}, Refusal{"TCP", not_proto}, Refusal{"tcp80", not_proto},
                                             Refusal{"tcp ", not_proto}, Refusal{"", not_proto}});
}

TEST(LeafNamesReserve, Accepted) {
    auto r = parse_reserve_name(Proto::tcp, "6000-6099");
    ASSERT_TRUE(r) << r.error().what;
    EXPECT_EQ(r->proto, Proto::tcp);
    EXPECT_EQ(r->port_min, 6000);
    EXPECT_EQ(r->port_max, 6099);
    EXPECT_FALSE(r->addr);
    r = parse_reserve_name(Proto::udp, "5060@127.0.0.1");
    ASSERT_TRUE(r) << r.error().what;
    EXPECT_EQ(r->proto, Proto::udp);
    EXPECT_EQ(r->port_min, 5060);
    EXPECT_EQ(r->port_max, 5060);
    EXPECT_EQ(r->addr, addr("127.0.0.1"));
    r = parse_reserve_name(Proto::tcp, "443@[2001:db8::1]");
    ASSERT_TRUE(r) << r.error().what;
    EXPECT_EQ(r->addr, addr("2001:db8::1"));
    EXPECT_TRUE(parse_reserve_name(Proto::udp, "1"));
    EXPECT_TRUE(parse_reserve_name(Proto::udp, "65535"));
}

TEST(LeafNamesReserve, Refusals) {
    const std::string rename = "not spelled the way portauth names it; rename it ";
    const auto tcp = [](const std::string& name) { return parse_reserve_name(Proto::tcp, name); };
    const auto udp = [](const std::string& name) { return parse_reserve_name(Proto::udp, name); };
    expect_refusals(udp, {
        Refusal{"05060", rename + "reserve/udp/5060"},
        Refusal{"5060-5060", rename + "reserve/udp/5060"},
        Refusal{"5060@[::ffff:127.0.0.1]", rename + "reserve/udp/5060@127.0.0.1"},
        Refusal{"0", "not a reservation: 'udp/0': port 0 means \"any free port\" and cannot be granted or reserved; ports are 1-65535"},
        Refusal{"6099-6000", "not a reservation: 'udp/6099-6000': port range 6099-6000 is backwards (write 6000-6099)"},
        Refusal{"5060@0.0.0.0", "not a reservation: 'udp/5060@0.0.0.0': a wildcard address reserves nothing in particular; "
                                "omit @ADDR to reserve on every address"},
        Refusal{"5060@[::]", "not a reservation: 'udp/5060@[::]': a wildcard address reserves nothing in particular; omit "
                             "@ADDR to reserve on every address"},
        Refusal{"5060~", "not a reservation: 'udp/5060~': '5060~' is not a port number (1-65535)"},
    });
    expect_refusals(tcp, {
        Refusal{"443@[2001:0db8::1]", rename + "reserve/tcp/443@[2001:db8::1]"},
        Refusal{"443@2001:db8::1", "not a reservation: 'tcp/443@2001:db8::1': IPv6 addresses go in brackets: @[2001:db8::1]"},
        Refusal{"80x", "not a reservation: 'tcp/80x': '80x' is not a port number (1-65535)"},
        Refusal{"65536", "not a reservation: 'tcp/65536': '65536' is not a port number (1-65535)"},
        Refusal{"", "not a reservation: 'tcp/': a port number is missing"},
    });
    EXPECT_FALSE(tcp("80\0"s));
    EXPECT_FALSE(tcp("80/x"));
    EXPECT_FALSE(tcp("../udp/80"));
}

}  // namespace
}  // namespace portauth
