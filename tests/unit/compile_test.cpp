// The kernel compiler (lib/engine/compile.hpp): a Policy in, the contents of
// every map the BPF program reads out. Pure, so tested without a kernel: what
// each kind of entry becomes, authbind's spelling order, the byuid '!' split,
// and the limits with the errors that name the entry at fault.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/compile.hpp"

using namespace portauth;

namespace {

AccessSpec owner_only(uint32_t uid) {
    AccessSpec a;
    a.owner_uid = uid;
    a.owner_gid = uid;
    a.owner_x = true;
    return a;
}

Reservation reservation(Proto proto, uint16_t low, uint16_t high, uint32_t owner, std::string file) {
    Reservation r;
    r.proto = proto;
    r.port_min = low;
    r.port_max = high;
    r.access = owner_only(owner);
    r.origin.file = std::move(file);
    return r;
}

UidGrantLine uid_line(uint16_t low, uint16_t high, std::string file, int line) {
    UidGrantLine l;
    l.addrs = AddressRange{Address::any4(), Address::v4(0xffffffffu)};
    l.port_min = low;
    l.port_max = high;
    l.origin.file = std::move(file);
    l.origin.line = line;
    return l;
}

const pa_port* port_entry(const KernelImage& img, uint16_t port) {
    for (const auto& [p, v] : img.ports)
        if (p == port) return &v;
    return nullptr;
}

}  // namespace

TEST(Compile, AnEmptyPolicyIsAnEmptyImage) {
    auto img = compile_policy(Policy{});
    ASSERT_TRUE(img) << img.error().message();
    EXPECT_TRUE(img->ports.empty());
    EXPECT_TRUE(img->rules.empty());
    EXPECT_TRUE(img->resv.empty());
    EXPECT_TRUE(img->root_exempt);
}

TEST(Compile, EachKindOfEntryBecomesARuleNamedByItsFile) {
    Policy p;
    p.settings.root_exempt = false;
    p.reservations.push_back(reservation(Proto::udp, 5060, 5061, 51000, "reserve/udp/5060-5061"));
    PortGrant g;
    g.port = 80;
    g.access = owner_only(51001);
    g.origin.file = "byport/80";
    p.port_grants.push_back(g);
    UidGrantFile f;
    f.uid = 51002;
    f.origin.file = "byuid/51002";
    f.lines.push_back(uid_line(8080, 8080, "byuid/51002", 1));
    p.uid_grants.push_back(f);

    auto img = compile_policy(p);
    ASSERT_TRUE(img) << img.error().message();
    EXPECT_FALSE(img->root_exempt);
    ASSERT_EQ(img->rules.size(), 3u);
    EXPECT_EQ(img->rule_names, (std::vector<std::string>{"reserve/udp/5060-5061", "byport/80", "byuid/51002:1"}));
    EXPECT_EQ(img->rules[0].kind, PA_RULE_RESERVE);
    EXPECT_EQ(img->rules[0].owner_uid, 51000u);
    EXPECT_EQ(img->rules[1].kind, PA_RULE_BYPORT);
    EXPECT_EQ(img->rules[2].kind, PA_RULE_BYUID);
    // A range expands to one key per port; every reserved port is listed for the sysctl.
    EXPECT_EQ(img->resv.size(), 2u);
    EXPECT_EQ(img->reserved_ports, (std::set<uint16_t>{5060, 5061}));
    ASSERT_TRUE(port_entry(*img, 5061));
    EXPECT_TRUE(port_entry(*img, 5061)->flags & PA_PORT_RESV_UDP);
    EXPECT_FALSE(port_entry(*img, 5061)->flags & PA_PORT_RESV_TCP);
    ASSERT_TRUE(port_entry(*img, 80));
    EXPECT_TRUE(port_entry(*img, 80)->flags & PA_PORT_BYPORT);
    EXPECT_EQ(port_entry(*img, 80)->byport_rule, 1u);
    ASSERT_EQ(img->byuid.size(), 1u);
    EXPECT_EQ(img->byuid[0].first.uid, 51002u);
    EXPECT_EQ(img->byuid[0].first.port, 8080);
    EXPECT_EQ(port_entry(*img, 9999), nullptr) << "only ports the policy mentions";
}

TEST(Compile, OfSeveralSpellingsOfOneAddressTheFirstAuthbindConsultsWins) {
    Policy p;
    for (int rank : {2, 0}) {
        AddrGrant g;
        g.addr = Address::v4(0x7f000001);
        g.port = 81;
        g.rank = rank;
        g.access = owner_only(rank == 0 ? 51000 : 51001);
        g.origin.file = rank == 0 ? "byaddr/127.0.0.1:81" : "byaddr/::ffff:127.0.0.1,81";
        p.addr_grants.push_back(g);
    }
    auto img = compile_policy(p);
    ASSERT_TRUE(img) << img.error().message();
    ASSERT_EQ(img->byaddr.size(), 1u);
    const uint32_t rule = img->byaddr[0].second;
    EXPECT_EQ(img->rule_names.at(rule), "byaddr/127.0.0.1:81");
    EXPECT_EQ(img->rules.at(rule).owner_uid, 51000u);
}

TEST(Compile, TheBangFileSpeaksForPorts512To1023AndThePlainOneForTheRest) {
    Policy p;
    for (bool bang : {false, true}) {
        UidGrantFile f;
        f.uid = 51000;
        f.bang = bang;
        f.origin.file = bang ? "byuid/!51000" : "byuid/51000";
        f.lines.push_back(uid_line(1000, 1030, f.origin.file, 1));   // both sides of 1023
        p.uid_grants.push_back(f);
    }
    auto img = compile_policy(p);
    ASSERT_TRUE(img) << img.error().message();
    ASSERT_EQ(img->byuid.size(), 31u);
    for (const auto& [key, list] : img->byuid) {
        ASSERT_EQ(list.count, 1u);
        const std::string& from = img->rule_names.at(list.rule[0]);
        EXPECT_EQ(from, key.port <= 1023 ? "byuid/!51000:1" : "byuid/51000:1") << "port " << key.port;
    }
}

TEST(Compile, SixteenRulesOnOnePortFitAndTheSeventeenthIsRefusedByName) {
    Policy p;
    for (uint32_t i = 0; i < PA_MAX_RULES_PER_PORT; ++i) {
        p.reservations.push_back(reservation(Proto::tcp, 7000, 7000, 51000 + i, "reserve/tcp/7000@10.0.0." + std::to_string(i + 1)));
        p.reservations.back().addr = Address::v4(0x0a000001u + i);
    }
    auto fits = compile_policy(p);
    ASSERT_TRUE(fits) << fits.error().message();
    ASSERT_EQ(fits->resv.size(), 1u);
    EXPECT_EQ(fits->resv[0].second.count, PA_MAX_RULES_PER_PORT);

    p.reservations.push_back(reservation(Proto::tcp, 7000, 7000, 51999, "reserve/tcp/7000@10.0.0.99"));
    p.reservations.back().addr = Address::v4(0x0a000063u);
    auto refused = compile_policy(p);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message(),
              "reserve/tcp/7000@10.0.0.99 (tcp port 7000): more than 16 rules on one port (the kernel engine's limit)");
    // The other protocol's list is its own.
    p.reservations.back().proto = Proto::udp;
    EXPECT_TRUE(compile_policy(p));
}

TEST(Compile, APolicyThatExpandsPastTheKernelsEntryLimitIsRefused) {
    // Every port of both protocols reserved 16 times: 2 * 65535 * 16 =
    // 2 097 120 entries, within the limit. Then 31 uids granted every port
    // (byuid/UID: the 65 023 ports outside 512-1023; byuid/!UID: two lines
    // over 512-1023, 1 024 entries): 31 * 66 047 = 2 047 457 more, past 4 000 000.
    Policy p;
    for (uint32_t i = 0; i < PA_MAX_RULES_PER_PORT; ++i)
        for (Proto proto : {Proto::tcp, Proto::udp})
            p.reservations.push_back(reservation(proto, 1, 65535, 51000 + i, "reserve/all-" + std::to_string(i)));
    auto within = compile_policy(p);
    ASSERT_TRUE(within) << within.error().message();
    EXPECT_EQ(within->resv.size(), 2u * 65535u);
    EXPECT_EQ(within->reserved_ports.size(), 65535u);
    for (uint32_t uid = 52000; uid < 52031; ++uid) {
        UidGrantFile f;
        f.uid = uid;
        f.origin.file = "byuid/" + std::to_string(uid);
        f.lines.push_back(uid_line(1, 65535, f.origin.file, 1));
        f.lines.push_back(uid_line(512, 1023, f.origin.file, 2));
        UidGrantFile bang = f;
        bang.bang = true;
        bang.origin.file = "byuid/!" + std::to_string(uid);
        p.uid_grants.push_back(f);
        p.uid_grants.push_back(bang);
    }
    auto refused = compile_policy(p);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message(),
              "the policy expands to more than 4000000 kernel entries; use fewer or narrower port ranges");
}

TEST(Compile, RuleNamesAreCutToTheKernelsFieldLeavingTheTerminator) {
    Policy p;
    p.reservations.push_back(reservation(Proto::tcp, 7001, 7001, 51000, "reserve/tcp/7001@" + std::string(200, 'x')));
    auto img = compile_policy(p);
    ASSERT_TRUE(img) << img.error().message();
    EXPECT_EQ(img->rule_names[0].size(), static_cast<size_t>(PA_RULE_NAME_LEN - 1));
}
