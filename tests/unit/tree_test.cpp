#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "policy/tree.hpp"
#include "policy_fixture.hpp"
#include "address_literal.hpp"

namespace portauth::testing {
namespace {

using TreeLoad = PolicyTreeTest;
using TreeByport = PolicyTreeTest;
using TreeByaddr = PolicyTreeTest;
using TreeByuid = PolicyTreeTest;
using TreeReserve = PolicyTreeTest;
using TreeConf = PolicyTreeTest;
using TreeAcl = PolicyTreeTest;
using TreeHygiene = PolicyTreeTest;

TEST_F(TreeLoad, EmptyTreeIsAnEmptyPolicy) {
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_EQ(policy->dir, root());
    EXPECT_TRUE(policy->settings.root_exempt);
    EXPECT_EQ(policy->rule_count(), 0u);
}

TEST_F(TreeLoad, DirIsKeptAsGiven) {
    auto policy = load_policy(root() + "/", options());
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_EQ(policy->dir, root() + "/");
}

TEST_F(TreeLoad, MissingDirIsAnError) {
    auto policy = load_policy(root() + "/nope", options());
    ASSERT_FALSE(policy.ok());
    EXPECT_EQ(policy.error().err, ENOENT);
    EXPECT_NE(policy.error().message().find(root() + "/nope"), std::string::npos) << policy.error().message();
}

TEST_F(TreeLoad, EmptyDirNameIsAnError) { EXPECT_FALSE(load_policy("", options()).ok()); }

TEST_F(TreeLoad, ReadmeIsAllowedOtherTopLevelNamesAreNot) {
    write("README", "notes\n");
    write("README.md", "notes\n");
    ASSERT_TRUE(load().ok()) << load().error().message();
    write("notes.txt", "x\n");
    expect_load_error(path("notes.txt"), "not a policy entry");
}

TEST_F(TreeLoad, LeftoverTemporaryFileIsNamed) {
    write("byport/.portauth-new.0123456789abcdef", "", 0400);
    expect_load_error(path("byport/.portauth-new.0123456789abcdef"), "not a policy entry");
    write(".portauth-new.0123456789abcdef", "", 0400);
    expect_load_error(path(".portauth-new.0123456789abcdef"), "interrupted edit");
}

TEST_F(TreeLoad, EntriesAreSorted) {
    write("byport/8080", "", 0500);
    write("byport/80", "", 0500);
    write("byport/!600", "", 0500);
    write("byaddr/10.0.0.1,80", "", 0500);
    write("byaddr/10.0.0.1:80", "", 0500);
    write("byaddr/::1,79", "", 0500);
    write("byuid/20", "", 0644);
    write("byuid/!10", "", 0644);
    write("reserve/udp/5060", "", 0400);
    write("reserve/tcp/7000", "", 0400);
    write("reserve/tcp/6000-6099", "", 0400);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->port_grants.size(), 3u);
    EXPECT_EQ(policy->port_grants[0].port, 80);
    EXPECT_EQ(policy->port_grants[1].port, 600);
    EXPECT_EQ(policy->port_grants[2].port, 8080);
    ASSERT_EQ(policy->addr_grants.size(), 3u);
    EXPECT_EQ(policy->addr_grants[0].origin.file, "byaddr/::1,79");
    EXPECT_EQ(policy->addr_grants[1].origin.file, "byaddr/10.0.0.1:80");
    EXPECT_EQ(policy->addr_grants[2].origin.file, "byaddr/10.0.0.1,80");
    ASSERT_EQ(policy->uid_grants.size(), 2u);
    EXPECT_EQ(policy->uid_grants[0].uid, 10u);
    EXPECT_EQ(policy->uid_grants[1].uid, 20u);
    ASSERT_EQ(policy->reservations.size(), 3u);
    EXPECT_EQ(policy->reservations[0].origin.file, "reserve/tcp/6000-6099");
    EXPECT_EQ(policy->reservations[1].origin.file, "reserve/tcp/7000");
    EXPECT_EQ(policy->reservations[2].origin.file, "reserve/udp/5060");
}

TEST_F(TreeByport, PlainAndBangNames) {
    write("byport/80", "", 0500);
    write("byport/!600", "", 0500);
    write("byport/1023x", "", 0500);
    expect_load_error(path("byport/1023x"), "not a policy entry");
    ASSERT_EQ(unlink(path("byport/1023x").c_str()), 0);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->port_grants.size(), 2u);
    EXPECT_EQ(policy->port_grants[0].port, 80);
    EXPECT_EQ(policy->port_grants[0].origin.file, "byport/80");
    EXPECT_EQ(policy->port_grants[0].origin.line, 0);
    EXPECT_TRUE(policy->port_grants[0].access.owner_x);
    EXPECT_FALSE(policy->port_grants[0].access.group_x);
    EXPECT_FALSE(policy->port_grants[0].access.other_x);
    EXPECT_FALSE(policy->port_grants[0].access.has_acl);
    EXPECT_EQ(policy->port_grants[0].access.owner_uid, geteuid());
    EXPECT_EQ(policy->port_grants[1].port, 600);
    EXPECT_EQ(policy->port_grants[1].origin.file, "byport/!600");
}

TEST_F(TreeByport, BangIsRequiredExactlyFor512To1023) {
    write("byport/600");
    expect_load_error(path("byport/600") + ": ports 512-1023 need the '!' prefix (byport/!600), as in authbind");
}

TEST_F(TreeByport, BangOutside512To1023IsAnError) {
    write("byport/!80");
    expect_load_error(path("byport/!80"), "only for ports 512-1023", "byport/80");
}

TEST_F(TreeByport, BoundaryPorts) {
    write("byport/511");
    write("byport/!512");
    write("byport/!1023");
    write("byport/1024");
    write("byport/65535");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_EQ(policy->port_grants.size(), 5u);
}

TEST_F(TreeByport, BadPortNames) {
    for (const char* name : {"080", "0", "65536", "80~", "!", "", "+80", "80 ", "!0600"}) {
        if (!*name) continue;
        SCOPED_TRACE(name);
        const std::string rel = std::string("byport/") + name;
        write(rel);
        expect_load_error(path(rel));
        ASSERT_EQ(unlink(path(rel).c_str()), 0);
    }
    write("byport/080");
    expect_load_error(path("byport/080"), "authbind would never look up this name", "byport/80");
}

TEST_F(TreeByport, DirectoryEntryIsAnError) {
    mkdir("byport");
    mkdir("byport/80");
    expect_load_error(path("byport/80"), "directory");
}

TEST_F(TreeByport, FifoEntryIsAnError) {
    mkdir("byport");
    ASSERT_EQ(mkfifo(path("byport/80").c_str(), 0600), 0);
    expect_load_error(path("byport/80"), "not a regular file");
}

TEST_F(TreeByaddr, Ipv4SpellingsAndRanks) {
    write("byaddr/127.0.0.1:80", "", 0500);
    write("byaddr/127.0.0.1,80", "", 0500);
    write("byaddr/!127.0.0.1,600", "", 0500);
    write("byaddr/!127.0.0.1:600", "", 0500);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->addr_grants.size(), 4u);
    const auto& g = policy->addr_grants;
    EXPECT_EQ(g[0].addr, addr("127.0.0.1"));
    EXPECT_EQ(g[0].port, 80);
    EXPECT_EQ(g[0].rank, 0);
    EXPECT_EQ(g[0].origin.file, "byaddr/127.0.0.1:80");
    EXPECT_EQ(g[1].rank, 1);
    EXPECT_EQ(g[1].origin.file, "byaddr/127.0.0.1,80");
    EXPECT_EQ(g[2].port, 600);
    EXPECT_EQ(g[2].rank, 0);
    EXPECT_EQ(g[3].rank, 1);
    EXPECT_EQ(g[3].origin.file, "byaddr/!127.0.0.1,600");
}

// authbind(1)'s example: uid 432 binding [2620:106:e002:f00f::21]:80.
TEST_F(TreeByaddr, AuthbindManPageExample) {
    write("byaddr/2620:106:e002:f00f::21,80", "", 0500);
    write("byaddr/2620:106:e002:f00f:0:0:0:21,80", "", 0500);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->addr_grants.size(), 2u);
    const auto& g = policy->addr_grants;
    EXPECT_EQ(g[0].addr, addr("2620:106:e002:f00f::21"));
    EXPECT_EQ(g[0].port, 80);
    EXPECT_EQ(g[0].rank, 0);
    EXPECT_EQ(g[0].origin.file, "byaddr/2620:106:e002:f00f::21,80");
    EXPECT_EQ(g[1].addr, g[0].addr);
    EXPECT_EQ(g[1].rank, 1);
    EXPECT_EQ(g[1].origin.file, "byaddr/2620:106:e002:f00f:0:0:0:21,80");
}

TEST_F(TreeByaddr, Ipv6LoopbackBothSpellings) {
    write("byaddr/::1,80");
    write("byaddr/0:0:0:0:0:0:0:1,80");
    write("byaddr/!::1,600");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->addr_grants.size(), 3u);
    EXPECT_EQ(policy->addr_grants[0].origin.file, "byaddr/::1,80");
    EXPECT_EQ(policy->addr_grants[0].rank, 0);
    EXPECT_EQ(policy->addr_grants[1].origin.file, "byaddr/0:0:0:0:0:0:0:1,80");
    EXPECT_EQ(policy->addr_grants[1].rank, 1);
    EXPECT_EQ(policy->addr_grants[2].port, 600);
}

TEST_F(TreeByaddr, V4MappedIsTheIpv4AddressWithRank2) {
    write("byaddr/::ffff:1.2.3.4,80");
    write("byaddr/0:0:0:0:0:ffff:102:304,80");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->addr_grants.size(), 2u);
    EXPECT_EQ(policy->addr_grants[0].addr, addr("1.2.3.4"));
    EXPECT_TRUE(policy->addr_grants[0].addr.is_v4());
    EXPECT_EQ(policy->addr_grants[0].rank, 2);
    EXPECT_EQ(policy->addr_grants[1].rank, 3);
}

TEST_F(TreeByaddr, SpellingsAuthbindNeverLooksUpAreErrors) {
    struct Case {
        const char* name;
        const char* expected;
    };
    for (const Case& c : {Case{"::0001,80", "byaddr/::1,80 or byaddr/0:0:0:0:0:0:0:1,80"},
                          Case{"2620:106:e002:f00f:0:0::21,80", "byaddr/2620:106:e002:f00f::21,80"},
                          Case{"2620:0106:e002:f00f::21,80", "byaddr/2620:106:e002:f00f::21,80"},
                          Case{"127.000.0.1,80", "byaddr/127.0.0.1:80 or byaddr/127.0.0.1,80"},
                          Case{"!010.0.0.1:600", "byaddr/!10.0.0.1:600 or byaddr/!10.0.0.1,600"},
                          Case{"::FFFF:1.2.3.4,80", "byaddr/::ffff:1.2.3.4,80"},
                          Case{"127.0.0.1,080", "byaddr/127.0.0.1:80 or byaddr/127.0.0.1,80"},
                          Case{"!::1,0600", "byaddr/!::1,600"}}) {
        SCOPED_TRACE(c.name);
        const std::string rel = std::string("byaddr/") + c.name;
        write(rel);
        expect_load_error(path(rel), "authbind would never look up this name", c.expected);
        ASSERT_EQ(unlink(path(rel).c_str()), 0);
    }
}

TEST_F(TreeByaddr, MalformedNames) {
    for (const char* name : {"127.0.0.0001,80", "127.0.0.1.1,80", "127.0.1,80", "127.0.0.1", "[::1],80", "::1:80", "127.0.0.1,0", "127.0.0.1,65536",
                             "localhost,80", "127.0.0.1,80~", "127.0.0.1,600", "!127.0.0.1,80", "0.0.0.0:80x"}) {
        SCOPED_TRACE(name);
        const std::string rel = std::string("byaddr/") + name;
        write(rel);
        expect_load_error(path(rel));
        ASSERT_EQ(unlink(path(rel).c_str()), 0);
    }
    write("byaddr/::1:80");
    expect_load_error(path("byaddr/::1:80"), "ADDR,PORT");
    ASSERT_EQ(unlink(path("byaddr/::1:80").c_str()), 0);
    write("byaddr/127.0.0.1,600");
    expect_load_error(path("byaddr/127.0.0.1,600"), "need the '!' prefix");
}

TEST_F(TreeByuid, AuthbindManPageLines) {
    write("byuid/432",
          "# authbind(1) example\n"
          "2620:106:e002:f00f::21,80\n"
          "\n"
          "::/0,80\n");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->uid_grants.size(), 1u);
    const auto& f = policy->uid_grants[0];
    EXPECT_EQ(f.uid, 432u);
    EXPECT_FALSE(f.bang);
    EXPECT_EQ(f.origin.file, "byuid/432");
    ASSERT_EQ(f.lines.size(), 2u);
    EXPECT_EQ(f.lines[0].addrs.low, addr("2620:106:e002:f00f::21"));
    EXPECT_EQ(f.lines[0].addrs.high, addr("2620:106:e002:f00f::21"));
    EXPECT_EQ(f.lines[0].port_min, 80);
    EXPECT_EQ(f.lines[0].port_max, 80);
    EXPECT_EQ(f.lines[0].origin.str(), "byuid/432:2");
    EXPECT_EQ(f.lines[1].addrs.low, addr("::"));
    EXPECT_EQ(f.lines[1].addrs.high, addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_EQ(f.lines[1].origin.line, 4);
}

TEST_F(TreeByuid, AllThreeFormsAndWhitespace) {
    write("byuid/!1001",
          "  10.0.0.1-10.0.0.9 , 600 - 700  \n"
          "\t# indented comment\n"
          "10.0.0.0/8,80\n"
          "192.168.0.0/16:5000,5010\n"
          "127.0.0.1,1-65535\r\n"
          "::ffff:10.0.0.0/104,443\n"
          "0.0.0.0/0,22");  // no final newline
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->uid_grants.size(), 1u);
    const auto& f = policy->uid_grants[0];
    EXPECT_EQ(f.uid, 1001u);
    EXPECT_TRUE(f.bang);
    EXPECT_EQ(f.origin.file, "byuid/!1001");
    ASSERT_EQ(f.lines.size(), 6u);
    EXPECT_EQ(f.lines[0].addrs.low, addr("10.0.0.1"));
    EXPECT_EQ(f.lines[0].addrs.high, addr("10.0.0.9"));
    EXPECT_EQ(f.lines[0].port_min, 600);
    EXPECT_EQ(f.lines[0].port_max, 700);
    EXPECT_EQ(f.lines[0].origin.line, 1);
    EXPECT_EQ(f.lines[1].addrs.low, addr("10.0.0.0"));
    EXPECT_EQ(f.lines[1].addrs.high, addr("10.255.255.255"));
    EXPECT_EQ(f.lines[1].origin.line, 3);
    EXPECT_EQ(f.lines[2].addrs.low, addr("192.168.0.0"));
    EXPECT_EQ(f.lines[2].addrs.high, addr("192.168.255.255"));
    EXPECT_EQ(f.lines[2].port_min, 5000);
    EXPECT_EQ(f.lines[2].port_max, 5010);
    EXPECT_EQ(f.lines[3].port_min, 1);
    EXPECT_EQ(f.lines[3].port_max, 65535);
    EXPECT_EQ(f.lines[4].addrs.low, addr("10.0.0.0"));   // v4-mapped /104 is IPv4 /8
    EXPECT_EQ(f.lines[4].addrs.high, addr("10.255.255.255"));
    EXPECT_EQ(f.lines[5].addrs.low, addr("0.0.0.0"));
    EXPECT_EQ(f.lines[5].addrs.high, addr("255.255.255.255"));
    EXPECT_EQ(f.lines[5].origin.line, 7);
}

TEST_F(TreeByuid, BadLinesNameFileAndLine) {
    struct Case {
        const char* line;
        const char* what;
    };
    for (const Case& c : {
             Case{"10.0.0.1/8,80", "address 10.0.0.1 has bits set beyond /8"},
             Case{"::1/64,80", "address ::1 has bits set beyond /64"},
             Case{"::ffff:10.0.0.0/80,80", "bits set beyond /80"},
             Case{"10.0.0.0/33,80", "not a prefix length (0-32)"},
             Case{"::/129,80", "not a prefix length (0-128)"},
             Case{"10.0.0.0/8,90-80", "port range 90-80 is backwards"},
             Case{"10.0.0.0/8:90,80", "port range 90-80 is backwards"},
             Case{"10.0.0.0/8:80", "needs both ports"},
             Case{"::/0:80,90", "IPv4 only"},
             Case{"10.0.0.9-10.0.0.1,80", "address range 10.0.0.9-10.0.0.1 is backwards"},
             Case{"10.0.0.1-::1,80", "mixes IPv4 and IPv6"},
             Case{"10.0.0.1,0", "port 0"},
             Case{"10.0.0.1,65536", "'65536' is not a port number"},
             Case{"10.0.0.1,80x", "'80x' is not a port number"},
             Case{"10.0.0.1,", "port number is missing"},
             Case{"10.0.0.1", "expected ADDR"},
             Case{"10.0.0.1/8", "expected ADDR/LENGTH"},
             Case{"[::1],80", "no brackets"},
             Case{"host.example,80", "'host.example' is not an IPv4 or IPv6 address"},
             Case{"10.0.0.1,80 # comment", "not a port number"},
         }) {
        SCOPED_TRACE(c.line);
        write("byuid/1001", std::string("# ok\n127.0.0.1,80\n") + c.line + "\n");
        expect_load_error(path("byuid/1001") + ":3: ", c.what);
    }
}

TEST_F(TreeByuid, BadNames) {
    for (const char* name : {"01001", "alice", "4294967295", "-1", "!!1", "1001~"}) {
        SCOPED_TRACE(name);
        const std::string rel = std::string("byuid/") + name;
        write(rel);
        expect_load_error(path(rel));
        ASSERT_EQ(unlink(path(rel).c_str()), 0);
    }
    write("byuid/0", "");
    write("byuid/4294967294", "");
    EXPECT_TRUE(load().ok());
}

TEST_F(TreeByuid, Limits) {
    write("byuid/1", std::string(kMaxLineLength, ' ') + "\n");
    EXPECT_TRUE(load().ok()) << load().error().message();
    write("byuid/1", "\n" + std::string(kMaxLineLength + 1, ' ') + "\n");
    expect_load_error(path("byuid/1") + ":2: line longer than 512 characters");

    std::string lines;
    for (size_t i = 0; i < kMaxUidFileLines; ++i) lines += "#\n";
    write("byuid/1", lines);
    EXPECT_TRUE(load().ok());
    write("byuid/1", lines + "#\n");
    expect_load_error(path("byuid/1"), "more than 10000 lines");

    write("byuid/1", std::string(kMaxUidFileBytes + 1, '\n'));
    expect_load_error(path("byuid/1"), "larger than 1048576 bytes");

    write("byuid/1", std::string("127.0.0.1,80\n\0\n", 15));
    expect_load_error(path("byuid/1") + ":2: contains a NUL byte");
}

// Moved from hardening_parsers_test.cpp (the fuzz harness no longer keeps a tree).
TEST_F(TreeByuid, HugeAndOddFilesAreRefusedNamingTheFile) {
    const std::string file = path("byuid/1001");
    std::string big;
    while (big.size() <= kMaxUidFileBytes) big += "# padding padding padding padding padding padding padding\n";
    for (const std::string& content : {big, std::string(kMaxLineLength + 1, '1') + "\n", std::string("1.2.3.4,80\0\n", 12)}) {
        write("byuid/1001", content);
        auto p = load();
        ASSERT_FALSE(p);
        EXPECT_NE(p.error().what.find(file), std::string::npos) << p.error().what;
    }
}

TEST_F(TreeReserve, EveryForm) {
    write("reserve/udp/5060", "", 0400);
    write("reserve/tcp/6000-6099", "", 0400);
    write("reserve/udp/5061@127.0.0.1", "", 0400);
    write("reserve/tcp/443@[2001:db8::1]", "", 0400);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    const auto& r = policy->reservations;
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].proto, Proto::tcp);
    EXPECT_EQ(r[0].port_min, 443);
    EXPECT_EQ(r[0].addr, addr("2001:db8::1"));
    EXPECT_EQ(r[0].origin.file, "reserve/tcp/443@[2001:db8::1]");
    EXPECT_EQ(r[1].port_min, 6000);
    EXPECT_EQ(r[1].port_max, 6099);
    EXPECT_FALSE(r[1].addr);
    EXPECT_EQ(r[2].proto, Proto::udp);
    EXPECT_EQ(r[2].port_min, 5060);
    EXPECT_EQ(r[3].addr, addr("127.0.0.1"));
    EXPECT_EQ(r[3].access.owner_uid, geteuid());
}

TEST_F(TreeReserve, BadNames) {
    struct Case {
        const char* rel;
        const char* what;
    };
    for (const Case& c : {
             Case{"reserve/udp/05060", "rename it reserve/udp/5060"},
             Case{"reserve/udp/5060-5060", "rename it reserve/udp/5060"},
             Case{"reserve/tcp/443@[2001:0db8::1]", "rename it reserve/tcp/443@[2001:db8::1]"},
             Case{"reserve/tcp/443@2001:db8::1", "brackets"},
             Case{"reserve/udp/0", "port 0"},
             Case{"reserve/udp/6099-6000", "backwards"},
             Case{"reserve/udp/5060@0.0.0.0", "omit @ADDR to reserve on every address"},
             Case{"reserve/udp/5060@[::]", "omit @ADDR"},
             Case{"reserve/udp/5060~", "not a port number"},
         }) {
        SCOPED_TRACE(c.rel);
        write(c.rel, "", 0400);
        expect_load_error(path(c.rel), c.what);
        ASSERT_EQ(unlink(path(c.rel).c_str()), 0);
    }
    mkdir("reserve/sctp");
    expect_load_error(path("reserve/sctp"), "tcp and udp");
    ASSERT_EQ(rmdir(path("reserve/sctp").c_str()), 0);
    write("reserve/tcp80", "", 0400);
    expect_load_error(path("reserve/tcp80"), "tcp and udp");
}

TEST_F(TreeReserve, OverlapsAreErrorsNamingBothFiles) {
    write("reserve/tcp/6000-6099", "", 0400);
    write("reserve/tcp/6050", "", 0400);
    expect_load_error(path("reserve/tcp/6050"), path("reserve/tcp/6000-6099"), "overlaps", "port 6050");
}

TEST_F(TreeReserve, OverlapOfTwoRangesOnOneAddress) {
    write("reserve/udp/100-200@10.0.0.1", "", 0400);
    write("reserve/udp/150-300@10.0.0.1", "", 0400);
    expect_load_error(path("reserve/udp/150-300@10.0.0.1"), path("reserve/udp/100-200@10.0.0.1"), "ports 150-200",
                      "on 10.0.0.1");
}

TEST_F(TreeReserve, LayeringAndDisjointReservationsAreFine) {
    write("reserve/tcp/6000-6099", "", 0400);
    write("reserve/tcp/6050@127.0.0.1", "", 0400);    // specific over wildcard: deliberate layering
    write("reserve/tcp/6050@[::1]", "", 0400);        // another address
    write("reserve/udp/6050", "", 0400);              // another protocol
    write("reserve/tcp/6100", "", 0400);              // adjacent
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_EQ(policy->reservations.size(), 5u);
}

TEST_F(TreeReserve, CheckReservationOverlapsDirectly) {
    std::vector<Reservation> rs(2);
    rs[0].proto = rs[1].proto = Proto::udp;
    rs[0].port_min = 10, rs[0].port_max = 20, rs[0].origin.file = "reserve/udp/10-20";
    rs[1].port_min = 20, rs[1].port_max = 30, rs[1].origin.file = "reserve/udp/20-30";
    auto s = check_reservation_overlaps("/etc/portauth", rs);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message(),
              "/etc/portauth/reserve/udp/20-30 overlaps /etc/portauth/reserve/udp/10-20: both reserve udp port 20 on every "
              "address; remove one or narrow its range");
    rs[1].port_min = 21;
    EXPECT_TRUE(check_reservation_overlaps("/etc/portauth", rs).ok());
    rs[1].port_min = 20;
    rs[1].proto = Proto::tcp;
    EXPECT_TRUE(check_reservation_overlaps("/etc/portauth", rs).ok());
}

TEST_F(TreeConf, DefaultsAndSettings) {
    write("portauth.conf", "# portauth settings\n\n  root-exempt   =   no  \n");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_FALSE(policy->settings.root_exempt);
    write("portauth.conf", "root-exempt=yes");
    policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_TRUE(policy->settings.root_exempt);
    write("portauth.conf", "");
    policy = load();
    ASSERT_TRUE(policy.ok());
    EXPECT_TRUE(policy->settings.root_exempt);
}

TEST_F(TreeConf, ErrorsNameFileAndLine) {
    const std::string conf = path("portauth.conf");
    write("portauth.conf", "# x\nstrict = yes\n");
    expect_load_error(conf + ":2: unknown setting 'strict'");
    write("portauth.conf", "root-exempt = maybe\n");
    expect_load_error(conf + ":1: root-exempt takes yes or no, not 'maybe'");
    write("portauth.conf", "root-exempt = YES\n");
    expect_load_error(conf + ":1: root-exempt takes yes or no");
    write("portauth.conf", "root-exempt no\n");
    expect_load_error(conf + ":1: expected 'key = value'");
    write("portauth.conf", "root-exempt = no\nroot-exempt = yes\n");
    expect_load_error(conf + ":2: root-exempt is already set on line 1");
    write("portauth.conf", "root-exempt = no # strict\n");
    expect_load_error(conf + ":1: root-exempt takes yes or no");
    write("portauth.conf", std::string(kMaxConfBytes + 1, '#'));
    expect_load_error(conf, "larger than 65536 bytes");
}

TEST_F(TreeAcl, NamedUserWithMaskWithoutExecute) {
    write("byport/80", "", 0400);
    set_acl("byport/80", "u::r--,u:51001:--x,g::--x,g:51002:--x,m::---,o::---");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->port_grants.size(), 1u);
    const AccessSpec& a = policy->port_grants[0].access;
    EXPECT_TRUE(a.has_acl);
    EXPECT_FALSE(a.mask_x);
    EXPECT_FALSE(a.owner_x);
    EXPECT_TRUE(a.group_x);  // ACL_GROUP_OBJ, unmasked
    EXPECT_FALSE(a.other_x);
    ASSERT_EQ(a.users.size(), 1u);
    EXPECT_EQ(a.users[0].id, 51001u);
    EXPECT_TRUE(a.users[0].execute);
    ASSERT_EQ(a.groups.size(), 1u);
    EXPECT_EQ(a.groups[0].id, 51002u);
    EXPECT_TRUE(a.groups[0].execute);
}

TEST_F(TreeAcl, NamedEntriesSortedAndMaskWithExecute) {
    write("byaddr/127.0.0.1,80", "", 0400);
    set_acl("byaddr/127.0.0.1,80", "u::r-x,u:51003:r--,u:51001:--x,g::---,m::r-x,o::--x");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    const AccessSpec& a = policy->addr_grants.at(0).access;
    EXPECT_TRUE(a.has_acl);
    EXPECT_TRUE(a.mask_x);
    EXPECT_TRUE(a.owner_x);
    EXPECT_FALSE(a.group_x);
    EXPECT_TRUE(a.other_x);
    ASSERT_EQ(a.users.size(), 2u);
    EXPECT_EQ(a.users[0], (AclEntry{51001, true}));
    EXPECT_EQ(a.users[1], (AclEntry{51003, false}));
}

TEST_F(TreeAcl, NoExtendedAclUsesTheMode) {
    write("reserve/udp/5060", "", 0450);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    const AccessSpec& a = policy->reservations.at(0).access;
    EXPECT_FALSE(a.has_acl);
    EXPECT_TRUE(a.mask_x);
    EXPECT_FALSE(a.owner_x);
    EXPECT_TRUE(a.group_x);
    EXPECT_FALSE(a.other_x);
    EXPECT_TRUE(a.users.empty());
    EXPECT_EQ(a.owner_gid, getegid());
}

TEST_F(TreeAcl, ExecuteOnlyEntry) {
    // authbind's own recipe is chmod 100/500; unprivileged, the loader
    // cannot open a --x file for reading and reads its ACL by O_PATH.
    write("byport/80", "", 0100);
    set_acl("byport/80", "u::--x,u:51001:--x,g::---,m::--x,o::---");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    const AccessSpec& a = policy->port_grants.at(0).access;
    EXPECT_TRUE(a.owner_x);
    EXPECT_EQ(a.users, (std::vector<AclEntry>{{51001, true}}));
}

TEST_F(TreeAcl, OwnerAndGroupFromStat) {
    PA_NEEDS_ROOT();
    write("byport/80", "", 0500);
    chown("byport/80", 51005, 51006);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_EQ(policy->port_grants.at(0).access.owner_uid, 51005u);
    EXPECT_EQ(policy->port_grants.at(0).access.owner_gid, 51006u);
}

// An entry that group or other can change costs that entry alone: it is
// loaded closed (a grant granting nobody) and listed as disabled.
TEST_F(TreeHygiene, GroupWritableEntryIsDisabledAlone) {
    write("byport/80", "", 0775);
    write("byport/81", "", 0500);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->disabled.size(), 1u);
    EXPECT_EQ(policy->disabled[0].origin.file, "byport/80");
    EXPECT_NE(policy->disabled[0].reason.find("writable by group or other (mode 0775); disabled, it fails closed (grants nobody); run: chmod go-w '" +
                                              path("byport/80") + "'"),
              std::string::npos)
        << policy->disabled[0].reason;
    ASSERT_EQ(policy->port_grants.size(), 2u);
    const AccessSpec& closed = policy->port_grants[0].access;
    EXPECT_FALSE(closed.owner_x || closed.group_x || closed.other_x || closed.has_acl) << "a disabled grant lets nobody through";
    EXPECT_TRUE(policy->port_grants[1].access.owner_x) << "the sound entry is untouched";
}

TEST_F(TreeHygiene, WritableReservationReservesForRootOnly) {
    write("reserve/udp/5090", "", 0577);
    set_acl("reserve/udp/5090", "u::r-x,u:51001:--x,g::rwx,m::rwx,o::rwx");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->disabled.size(), 1u);
    EXPECT_NE(policy->disabled[0].reason.find("reserved for root only"), std::string::npos) << policy->disabled[0].reason;
    ASSERT_EQ(policy->reservations.size(), 1u);
    const AccessSpec& a = policy->reservations[0].access;
    EXPECT_EQ(a.owner_uid, 0u);
    EXPECT_TRUE(a.owner_x);
    EXPECT_FALSE(a.group_x || a.other_x || a.has_acl);
    EXPECT_TRUE(a.users.empty()) << "the ACL's owners are not owners of a disabled reservation";
}

TEST_F(TreeHygiene, WorldWritableReadme) {
    write("README", "", 0646);
    expect_load_error(path("README"), "writable by group or other");
}

TEST_F(TreeHygiene, AclMaskWithWriteIsGroupWritable) {
    write("byport/80", "", 0400);
    set_acl("byport/80", "u::r--,u:51001:rwx,g::---,m::rwx,o::---");
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->disabled.size(), 1u);
    EXPECT_NE(policy->disabled[0].reason.find("writable by group or other"), std::string::npos);
    EXPECT_TRUE(policy->port_grants.at(0).access.users.empty()) << "u:51001 is not granted by a disabled entry";
}

TEST_F(TreeHygiene, GroupWritableDirs) {
    mkdir("byuid", 0775);
    expect_load_error(path("byuid"), "writable by group or other (mode 0775)");
    ASSERT_EQ(chmod(path("byuid").c_str(), 0755), 0);
    ASSERT_EQ(chmod(root().c_str(), 0757), 0);
    expect_load_error(root() + ": writable by group or other (mode 0757)");
}

TEST_F(TreeHygiene, DirNotOwnedByRoot) {
    PA_NEEDS_ROOT();
    mkdir("byport");
    chown("byport", 51000, 0);
    expect_load_error(path("byport") + ": owned by uid 51000, not root");
    chown("byport", 0, 0);
    chown("", 51000, 0);
    expect_load_error(root() + ": owned by uid 51000, not root");
}

TEST_F(TreeHygiene, ByuidAndConfMustBeRoots) {
    PA_NEEDS_ROOT();
    write("byuid/1001", "127.0.0.1,80\n");
    chown("byuid/1001", 1001, 0);
    expect_load_error(path("byuid/1001") + ": owned by uid 1001, not root");
    chown("byuid/1001", 0, 0);
    write("portauth.conf", "");
    chown("portauth.conf", 51000, 51000);
    expect_load_error(path("portauth.conf") + ": owned by uid 51000, not root");
}

TEST_F(TreeHygiene, GrantEntriesMayBeOwnedByAnyone) {
    PA_NEEDS_ROOT();
    write("byport/80", "", 0500);
    chown("byport/80", 51001, 51001);
    write("byaddr/127.0.0.1,80", "", 0500);
    chown("byaddr/127.0.0.1,80", 51002, 0);
    write("reserve/udp/5060", "", 0500);
    chown("reserve/udp/5060", 51003, 0);
    auto policy = load();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
}

TEST_F(TreeHygiene, SymlinksAnywhere) {
    write("byport/81", "", 0500);
    ASSERT_EQ(symlink("81", path("byport/80").c_str()), 0);
    expect_load_error(path("byport/80"), "symbolic link");
    ASSERT_EQ(unlink(path("byport/80").c_str()), 0);

    mkdir("real-byuid");
    ASSERT_EQ(symlink("real-byuid", path("byuid").c_str()), 0);
    expect_load_error(path("byuid"), "symbolic link");
    ASSERT_EQ(unlink(path("byuid").c_str()), 0);
    ASSERT_EQ(rmdir(path("real-byuid").c_str()), 0);

    ASSERT_EQ(symlink("/etc/hostname", path("README").c_str()), 0);
    expect_load_error(path("README"), "symbolic link");
    ASSERT_EQ(unlink(path("README").c_str()), 0);

    ASSERT_EQ(symlink("/etc/hostname", path("portauth.conf").c_str()), 0);
    expect_load_error(path("portauth.conf"), "symbolic link");
}

TEST_F(TreeHygiene, RootDirMustNotBeASymlink) {
    const std::string link = tmp() + "/link";
    ASSERT_EQ(symlink(root().c_str(), link.c_str()), 0);
    auto policy = load_policy(link, options());
    ASSERT_FALSE(policy.ok());
    EXPECT_NE(policy.error().message().find(link + ": is a symbolic link"), std::string::npos) << policy.error().message();
    // A symlink among the ancestors is resolved and fine.
    const std::string linkdir = tmp() + "/linkdir";
    ASSERT_EQ(symlink(tmp().c_str(), linkdir.c_str()), 0);
    policy = load_policy(linkdir + "/policy", options());
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_EQ(policy->dir, linkdir + "/policy");
}

TEST_F(TreeHygiene, WorldWritableAncestorWithoutSticky) {
    const std::string ww = tmp() + "/ww";
    ASSERT_EQ(::mkdir(ww.c_str(), 0777), 0);
    ASSERT_EQ(chmod(ww.c_str(), 0777), 0);
    ASSERT_EQ(::mkdir((ww + "/policy").c_str(), 0755), 0);
    auto policy = load_policy(ww + "/policy", options());
    ASSERT_FALSE(policy.ok());
    EXPECT_NE(policy.error().message().find(ww + ": writable by group or other and not sticky (mode 0777)"), std::string::npos)
        << policy.error().message();
    ASSERT_EQ(chmod(ww.c_str(), 01777), 0);  // like /tmp
    policy = load_policy(ww + "/policy", options());
    EXPECT_TRUE(policy.ok()) << policy.error().message();
}

TEST_F(TreeHygiene, AncestorOwnedByAnotherUser) {
    PA_NEEDS_ROOT();
    const std::string home = tmp() + "/home";
    ASSERT_EQ(::mkdir(home.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((home + "/policy").c_str(), 0755), 0);
    ASSERT_EQ(::chown(home.c_str(), 51000, 51000), 0);
    auto policy = load_policy(home + "/policy");
    ASSERT_FALSE(policy.ok());
    EXPECT_NE(policy.error().message().find(home + ": owned by uid 51000, not root"), std::string::npos)
        << policy.error().message();
}

TEST_F(TreeHygiene, FirstErrorWinsAndNoPartialPolicy) {
    write("byport/80", "", 0500);
    write("byuid/51001", "", 0666);
    write("byuid/51002", "", 0666);
    expect_load_error(path("byuid/51001"));
    auto policy = load();
    EXPECT_EQ(policy.error().message().find("byuid/51002"), std::string::npos);
}

TEST(TreeDefaults, DefaultPolicyDir) {
    const char* saved = getenv("PORTAUTH_POLICY_DIR");
    const std::string keep = saved ? saved : "";
    unsetenv("PORTAUTH_POLICY_DIR");
    EXPECT_EQ(default_policy_dir(), "/etc/portauth");
    setenv("PORTAUTH_POLICY_DIR", "", 1);
    EXPECT_EQ(default_policy_dir(), "/etc/portauth");
    setenv("PORTAUTH_POLICY_DIR", "/srv/policy", 1);
    EXPECT_EQ(default_policy_dir(), "/srv/policy");
    if (saved)
        setenv("PORTAUTH_POLICY_DIR", keep.c_str(), 1);
    else
        unsetenv("PORTAUTH_POLICY_DIR");
}

}  // namespace
}  // namespace portauth::testing
