// Whose identity a squat is judged by (binder, holders, socket), and the
// sock_diag parser's socket storage attributes, on hand-built netlink bytes.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cstring>
#include <map>

#include "engine/portauth-api.h"
#include "portwatch/scanner.hpp"
#include "portwatch/sockdiag.hpp"

using namespace portauth;
using namespace portauth::watch;

namespace {

constexpr uint32_t kOwner = 51000, kOther = 51001;

Policy udp5060_for_owner() {
    Policy p;
    Reservation r;
    r.proto = Proto::udp;
    r.port_min = r.port_max = 5060;
    r.access.owner_uid = 0;
    r.access.has_acl = true;
    r.access.mask_x = true;
    r.access.users.push_back({kOwner, true});
    r.origin.file = "reserve/udp/5060";
    p.reservations.push_back(r);
    return p;
}

SocketInfo socket_of(uint32_t uid, uint64_t inode) {
    SocketInfo s;
    s.proto = Proto::udp;
    s.addr = *Address::parse("127.0.0.1");
    s.port = 5060;
    s.uid = uid;
    s.inode = inode;
    return s;
}

Credentials creds(uint32_t uid) { return Credentials{uid, uid, {}}; }

std::vector<Squatter> judge(const std::vector<SocketInfo>& sockets, const std::map<uint64_t, std::vector<Credentials>>& held) {
    return find_squatters(udp5060_for_owner(), sockets, creds, HostFacts{}, [&](uint64_t inode) {
        auto it = held.find(inode);
        return it == held.end() ? std::vector<Credentials>{} : it->second;
    });
}

}  // namespace

TEST(PortwatchIdentity, TheBinderDecidesNotTheCreator) {
    // Created by root, bound by the owner after dropping privileges.
    auto s = socket_of(0, 1);
    s.binder = Binder{kOwner, kOwner, {}, 42, 1, 1};
    EXPECT_TRUE(judge({s}, {}).empty());
    // The same by someone else: a squatter, judged by the binder, even if an owner's process holds it now.
    s.binder = Binder{kOther, kOther, {}, 42, 1, 1};
    auto q = judge({s}, {{1, {creds(kOwner)}}});
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].identity, "binder");
    EXPECT_EQ(q[0].uid, kOther);
    EXPECT_EQ(q[0].user, std::to_string(kOther));
    EXPECT_EQ(q[0].entry, "reserve/udp/5060");
}

TEST(PortwatchIdentity, HoldersDecideWhenNoBinderIsKnown) {
    // Root's socket held by the owner's process: not a squatter (without enforcement).
    EXPECT_TRUE(judge({socket_of(0, 1)}, {{1, {creds(kOwner)}}}).empty());
    // A squatter only if no holder would be allowed.
    EXPECT_TRUE(judge({socket_of(kOther, 1)}, {{1, {creds(kOther), creds(kOwner)}}}).empty());
    auto q = judge({socket_of(kOwner, 1)}, {{1, {creds(kOther), creds(51002)}}});
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].identity, "holder");
    EXPECT_EQ(q[0].uid, kOther);
    // Supplementary groups count: a holder in a group the ACL names.
    Policy p = udp5060_for_owner();
    p.reservations[0].access.groups.push_back({52000, true});
    auto none = find_squatters(p, {socket_of(kOther, 1)}, creds, HostFacts{},
                               [](uint64_t) { return std::vector<Credentials>{{kOther, kOther, {52000}}}; });
    EXPECT_TRUE(none.empty());
}

TEST(PortwatchIdentity, TheSocketUidIsTheLastResort) {
    auto q = judge({socket_of(kOther, 1)}, {});
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].identity, "socket");
    EXPECT_EQ(q[0].uid, kOther);
    EXPECT_TRUE(judge({socket_of(kOwner, 1)}, {}).empty());
    // The four-argument form: no holders.
    EXPECT_EQ(find_squatters(udp5060_for_owner(), {socket_of(kOther, 1)}, creds, HostFacts{}).size(), 1u);
}

namespace {

// One SOCK_DIAG_BY_FAMILY message for a udp 127.0.0.1:5060 socket with `attrs` after it.
std::vector<uint8_t> message(const std::vector<uint8_t>& attrs, uint32_t uid = 0) {
    inet_diag_msg m{};
    m.idiag_family = AF_INET;
    m.id.idiag_sport = htons(5060);
    m.id.idiag_src[0] = htonl(0x7f000001);
    m.idiag_uid = uid;
    m.idiag_inode = 77;
    std::vector<uint8_t> out(NLMSG_HDRLEN + sizeof m + attrs.size());
    nlmsghdr h{};
    h.nlmsg_len = static_cast<uint32_t>(out.size());
    h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    std::memcpy(out.data(), &h, sizeof h);
    std::memcpy(out.data() + NLMSG_HDRLEN, &m, sizeof m);
    if (!attrs.empty()) std::memcpy(out.data() + NLMSG_HDRLEN + sizeof m, attrs.data(), attrs.size());
    return out;
}

}  // namespace

TEST(PortwatchSockdiagStorage, TheBinderOfTheNamedMapIsRead) {
    const Binder b{kOwner, 52000, {4, 27, 52001}, 1234, 99, 3};
    auto bytes = message(encode_binder_storage(b, 17));
    auto r = parse_inet_diag_reply(bytes, Proto::udp, 17);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->sockets.size(), 1u);
    ASSERT_TRUE(r->sockets[0].binder);
    EXPECT_EQ(*r->sockets[0].binder, b);
    EXPECT_EQ(r->sockets[0].port, 5060);
    // Another map's value, or no map named: no binder, the socket still parses.
    auto other = parse_inet_diag_reply(bytes, Proto::udp, 18);
    ASSERT_TRUE(other);
    ASSERT_EQ(other->sockets.size(), 1u);
    EXPECT_FALSE(other->sockets[0].binder);
    auto unnamed = parse_inet_diag_reply(bytes, Proto::udp);
    ASSERT_TRUE(unnamed);
    EXPECT_FALSE(unnamed->sockets[0].binder);
}

TEST(PortwatchSockdiagStorage, MalformedStorageIsAnErrorOrIgnored) {
    auto good = encode_binder_storage(Binder{kOwner, kOwner, {}, 1, 1, 1}, 5);
    // An inner attribute claiming more bytes than its nest holds: an error, not a read past the end.
    auto overrun = good;
    nlattr inner{};
    std::memcpy(&inner, overrun.data() + 2 * NLA_HDRLEN, sizeof inner);   // SK_DIAG_BPF_STORAGE_MAP_ID
    inner.nla_len = 0xfff0;
    std::memcpy(overrun.data() + 2 * NLA_HDRLEN, &inner, sizeof inner);
    EXPECT_FALSE(parse_inet_diag_reply(message(overrun), Proto::udp, 5));
    // A value of the wrong size (another layout): no binder.
    std::vector<uint8_t> small;
    {
        const uint32_t id = 5;
        const uint8_t value[8] = {};
        auto put = [](std::vector<uint8_t>& out, uint16_t type, const void* p, size_t n) {
            nlattr a{};
            a.nla_type = type;
            a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + n);
            const size_t at = out.size();
            out.resize(at + NLA_HDRLEN + NLA_ALIGN(n));
            std::memcpy(out.data() + at, &a, sizeof a);
            std::memcpy(out.data() + at + NLA_HDRLEN, p, n);
        };
        std::vector<uint8_t> in, stg;
        put(in, SK_DIAG_BPF_STORAGE_MAP_ID, &id, sizeof id);
        put(in, SK_DIAG_BPF_STORAGE_MAP_VALUE, value, sizeof value);
        put(stg, SK_DIAG_BPF_STORAGE, in.data(), in.size());
        put(small, INET_DIAG_SK_BPF_STORAGES, stg.data(), stg.size());
    }
    auto r = parse_inet_diag_reply(message(small), Proto::udp, 5);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->sockets.size(), 1u);
    EXPECT_FALSE(r->sockets[0].binder);
    // A group count past PA_MAX_GROUPS: no binder.
    auto many = good;
    pa_binder raw{};
    const size_t value_at = 3 * NLA_HDRLEN + NLA_ALIGN(sizeof(uint32_t)) + NLA_HDRLEN;
    std::memcpy(&raw, many.data() + value_at, sizeof raw);
    raw.ngroups = PA_MAX_GROUPS + 1;
    std::memcpy(many.data() + value_at, &raw, sizeof raw);
    auto m = parse_inet_diag_reply(message(many), Proto::udp, 5);
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->sockets[0].binder);
}
