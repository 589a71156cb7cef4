#include <gtest/gtest.h>

#include <string>

#include "policy/spec.hpp"
#include "address_literal.hpp"

namespace portauth {
namespace {

// The parse must fail with a message that names the text and contains `what`.
template <class T>
void expect_error(const Result<T>& r, const std::string& text, const std::string& what) {
    ASSERT_FALSE(r.ok()) << "accepted '" << text << "'";
    const std::string msg = r.error().message();
    EXPECT_NE(msg.find(text), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg << "\nexpected: " << what;
}

TEST(SpecReserve, ParsesEveryForm) {
    auto r = parse_reserve_spec("udp/5060");
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->proto, Proto::udp);
    EXPECT_EQ(r->port_min, 5060);
    EXPECT_EQ(r->port_max, 5060);
    EXPECT_FALSE(r->addr);

    r = parse_reserve_spec("tcp/6000-6099");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->proto, Proto::tcp);
    EXPECT_EQ(r->port_min, 6000);
    EXPECT_EQ(r->port_max, 6099);

    r = parse_reserve_spec("udp/5060@127.0.0.1");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->addr, addr("127.0.0.1"));

    r = parse_reserve_spec("tcp/443@[2001:db8::1]");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->addr, addr("2001:db8::1"));

    r = parse_reserve_spec("tcp/1-65535");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->port_min, 1);
    EXPECT_EQ(r->port_max, 65535);
}

TEST(SpecReserve, V4MappedBecomesIpv4) {
    auto r = parse_reserve_spec("tcp/443@[::ffff:10.1.2.3]");
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->addr, addr("10.1.2.3"));
    EXPECT_EQ(reserve_entry_path(*r), "reserve/tcp/443@10.1.2.3");
}

TEST(SpecReserve, FormatsAndPathsRoundTrip) {
    for (const char* text : {"udp/5060", "tcp/6000-6099", "udp/5060@127.0.0.1", "tcp/443@[2001:db8::1]"}) {
        auto r = parse_reserve_spec(text);
        ASSERT_TRUE(r.ok()) << text;
        EXPECT_EQ(format_reserve_spec(*r), text);
        EXPECT_EQ(reserve_entry_path(*r), std::string("reserve/") + text);
    }
    // Non-canonical input comes out canonical.
    auto r = parse_reserve_spec("tcp/443@[2001:0db8:0::1]");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(format_reserve_spec(*r), "tcp/443@[2001:db8::1]");
    r = parse_reserve_spec("udp/5060-5060");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(format_reserve_spec(*r), "udp/5060");
}

TEST(SpecReserve, RejectsBadPorts) {
    expect_error(parse_reserve_spec("udp/0"), "udp/0", "port 0");
    expect_error(parse_reserve_spec("udp/65536"), "udp/65536", "'65536' is not a port number");
    expect_error(parse_reserve_spec("udp/80x"), "udp/80x", "'80x' is not a port number");
    expect_error(parse_reserve_spec("udp/+80"), "udp/+80", "not a port number");
    expect_error(parse_reserve_spec("udp/ 80"), "udp/ 80", "not a port number");
    expect_error(parse_reserve_spec("udp/"), "udp/", "port number is missing");
    expect_error(parse_reserve_spec("udp/-80"), "udp/-80", "port number is missing");
    expect_error(parse_reserve_spec("udp/80-"), "udp/80-", "port number is missing");
    expect_error(parse_reserve_spec("udp/6099-6000"), "udp/6099-6000", "backwards (write 6000-6099)");
    expect_error(parse_reserve_spec("udp/1-2-3"), "udp/1-2-3", "not a port number");
}

TEST(SpecReserve, RejectsBadProtocolsAndShapes) {
    expect_error(parse_reserve_spec("sctp/80"), "sctp/80", "unknown protocol 'sctp' (tcp or udp)");
    expect_error(parse_reserve_spec("TCP/80"), "TCP/80", "unknown protocol");
    expect_error(parse_reserve_spec("5060"), "5060", "expected PROTO/PORT");
    expect_error(parse_reserve_spec(""), "''", "expected PROTO/PORT");
}

TEST(SpecReserve, RejectsBadAddresses) {
    expect_error(parse_reserve_spec("udp/5060@::1"), "udp/5060@::1", "IPv6 addresses go in brackets: @[::1]");
    expect_error(parse_reserve_spec("udp/5060@[127.0.0.1]"), "udp/5060@[127.0.0.1]", "brackets are for IPv6");
    expect_error(parse_reserve_spec("udp/5060@[::1"), "udp/5060@[::1", "unbalanced brackets");
    expect_error(parse_reserve_spec("udp/5060@::1]"), "udp/5060@::1]", "brackets");
    expect_error(parse_reserve_spec("udp/5060@[]"), "udp/5060@[]", "unbalanced brackets");
    expect_error(parse_reserve_spec("udp/5060@[fe80::1%eth0]"), "fe80::1%eth0", "not an IPv6 address");
    expect_error(parse_reserve_spec("udp/5060@"), "udp/5060@", "address is missing");
    expect_error(parse_reserve_spec("udp/5060@256.0.0.1"), "256.0.0.1", "not an IPv4 address");
    expect_error(parse_reserve_spec("udp/5060@localhost"), "localhost", "not an IPv4 address");
    expect_error(parse_reserve_spec("udp/5060@0.0.0.0"), "udp/5060@0.0.0.0", "omit @ADDR to reserve on every address");
    expect_error(parse_reserve_spec("udp/5060@[::]"), "udp/5060@[::]", "omit @ADDR");
}

TEST(SpecGrant, ParsesPortAndAddress) {
    auto g = parse_grant_spec("80");
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->port, 80);
    EXPECT_FALSE(g->addr);

    g = parse_grant_spec("600@[::1]");
    ASSERT_TRUE(g.ok()) << g.error().message();
    EXPECT_EQ(g->port, 600);
    EXPECT_EQ(g->addr, addr("::1"));

    g = parse_grant_spec("80@0.0.0.0");  // authbind looks up 0.0.0.0,80 for a wildcard bind
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->addr, Address::any4());
}

TEST(SpecGrant, EntryPathsFollowAuthbind) {
    auto path = [](const char* text) {
        auto g = parse_grant_spec(text);
        EXPECT_TRUE(g.ok()) << text;
        return g.ok() ? grant_entry_path(*g) : std::string();
    };
    EXPECT_EQ(path("80"), "byport/80");
    EXPECT_EQ(path("511"), "byport/511");
    EXPECT_EQ(path("512"), "byport/!512");
    EXPECT_EQ(path("600"), "byport/!600");
    EXPECT_EQ(path("1023"), "byport/!1023");
    EXPECT_EQ(path("1024"), "byport/1024");
    EXPECT_EQ(path("80@127.0.0.1"), "byaddr/127.0.0.1,80");
    EXPECT_EQ(path("600@[::1]"), "byaddr/!::1,600");
    EXPECT_EQ(path("80@[2620:106:e002:f00f:0:0:0:21]"), "byaddr/2620:106:e002:f00f::21,80");
    EXPECT_EQ(path("80@[::ffff:1.2.3.4]"), "byaddr/1.2.3.4,80");
    EXPECT_EQ(format_grant_spec(*parse_grant_spec("600@[::1]")), "600@[::1]");
}

TEST(SpecGrant, RejectsBadInput) {
    expect_error(parse_grant_spec("tcp/80"), "tcp/80", "grants cover tcp and udp alike");
    expect_error(parse_grant_spec("udp/80"), "udp/80", "grants cover tcp and udp alike");
    expect_error(parse_grant_spec("0"), "'0'", "port 0");
    expect_error(parse_grant_spec("65536"), "65536", "not a port number");
    expect_error(parse_grant_spec("80x"), "80x", "not a port number");
    expect_error(parse_grant_spec(""), "''", "missing");
    expect_error(parse_grant_spec("80-90"), "80-90", "one port");
    expect_error(parse_grant_spec("80@::1"), "80@::1", "brackets");
    expect_error(parse_grant_spec("80@[1.2.3.4]"), "80@[1.2.3.4]", "brackets are for IPv6");
    expect_error(parse_grant_spec("127.0.0.1,80"), "127.0.0.1,80", "not a port number");
}

TEST(SpecBind, ParsesAndDefaultsToWildcard) {
    auto b = parse_bind_spec("tcp/80");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->proto, Proto::tcp);
    EXPECT_EQ(b->port, 80);
    EXPECT_EQ(b->addr, Address::any4());

    b = parse_bind_spec("udp/53@[::1]");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->proto, Proto::udp);
    EXPECT_EQ(b->addr, addr("::1"));

    b = parse_bind_spec("tcp/80@[::]");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->addr, Address::any6());
}

TEST(SpecBind, RejectsBadInput) {
    expect_error(parse_bind_spec("tcp/0"), "tcp/0", "port 0");
    expect_error(parse_bind_spec("tcp/65536"), "tcp/65536", "not a port number");
    expect_error(parse_bind_spec("tcp/80-90"), "tcp/80-90", "not a port number");
    expect_error(parse_bind_spec("80"), "'80'", "expected PROTO/PORT");
    expect_error(parse_bind_spec("icmp/1"), "icmp/1", "unknown protocol");
    expect_error(parse_bind_spec("tcp/80@::1"), "tcp/80@::1", "brackets");
}

TEST(SpecPrincipal, ResolvesNamesAndNumbers) {
    auto p = parse_principal("root");
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(p->kind, Principal::Kind::user);
    EXPECT_EQ(p->id, 0u);
    EXPECT_EQ(format_principal(*p), "root (uid 0)");

    p = parse_principal("%root");
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(p->kind, Principal::Kind::group);
    EXPECT_EQ(p->id, 0u);
    EXPECT_EQ(format_principal(*p), "%root (gid 0)");

    p = parse_principal("0");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->name, "root");  // numbers get their name for display

    p = parse_principal("59999");  // no passwd entry needed
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->kind, Principal::Kind::user);
    EXPECT_EQ(p->id, 59999u);
    EXPECT_EQ(format_principal(*p), "uid 59999");

    p = parse_principal("%59999");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->kind, Principal::Kind::group);
    EXPECT_EQ(format_principal(*p), "gid 59999");

    p = parse_principal("4294967294");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->id, 4294967294u);
}

TEST(SpecPrincipal, RejectsUnknownAndInvalid) {
    expect_error(parse_principal("no-such-user-pa"), "no-such-user-pa", "unknown user");
    expect_error(parse_principal("%no-such-group-pa"), "no-such-group-pa", "unknown group");
    expect_error(parse_principal("4294967295"), "4294967295", "not a valid uid");
    expect_error(parse_principal("%4294967295"), "%4294967295", "not a valid gid");
    expect_error(parse_principal("%"), "'%'", "missing");
    expect_error(parse_principal(""), "''", "missing");
}

TEST(SpecPrincipal, FormatsNamedPrincipals) {
    EXPECT_EQ(format_principal(Principal{Principal::Kind::user, 1001, "alice"}), "alice (uid 1001)");
    EXPECT_EQ(format_principal(Principal{Principal::Kind::group, 50, "staff"}), "%staff (gid 50)");
    EXPECT_EQ(format_principal(Principal{Principal::Kind::user, 1001, ""}), "uid 1001");
}

}  // namespace
}  // namespace portauth
