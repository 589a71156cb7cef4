#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "policy/edit.hpp"
#include "policy/who.hpp"
#include "policy_fixture.hpp"

namespace portauth::testing {
namespace {

Principal user(uint32_t id) { return Principal{Principal::Kind::user, id, std::to_string(id)}; }
Principal group(uint32_t id) { return Principal{Principal::Kind::group, id, std::to_string(id)}; }

GrantSpec grant(const char* text) {
    auto g = parse_grant_spec(text);
    EXPECT_TRUE(g.ok()) << text;
    return g.ok() ? *g : GrantSpec{};
}

ReserveSpec reserve(const char* text) {
    auto r = parse_reserve_spec(text);
    EXPECT_TRUE(r.ok()) << text;
    return r.ok() ? *r : ReserveSpec{};
}

#define EXPECT_OK(status)                                                  \
    do {                                                                   \
        const auto& pa_status_ = (status);                                 \
        EXPECT_TRUE(pa_status_.ok()) << pa_status_.error().message();      \
    } while (0)

#define EXPECT_ERROR_HAS(status, part)                                                         \
    do {                                                                                       \
        const auto& pa_status_ = (status);                                                     \
        ASSERT_FALSE(pa_status_.ok()) << "expected an error containing: " << (part);          \
        EXPECT_NE(pa_status_.error().message().find(part), std::string::npos)                  \
            << pa_status_.error().message() << "\nmissing: " << (part);                        \
    } while (0)

class EditTest : public PolicyTreeTest {
protected:
    Policy loaded() const {
        auto policy = load();
        EXPECT_TRUE(policy.ok()) << policy.error().message();
        return policy.ok() ? std::move(*policy) : Policy{};
    }

    std::vector<std::string> names_in(const std::string& rel) const {
        std::vector<std::string> names;
        DIR* d = opendir(path(rel).c_str());
        if (!d) return names;
        while (const dirent* e = readdir(d))
            if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.emplace_back(e->d_name);
        closedir(d);
        std::sort(names.begin(), names.end());
        return names;
    }
};

using EditGrant = EditTest;
using EditReserve = EditTest;

TEST_F(EditGrant, AllowCreatesAnEntryThatLoads) {
    EXPECT_OK(grant_allow(root(), grant("80"), {user(51001)}, options()));
    EXPECT_EQ(names_in("byport"), std::vector<std::string>{"80"});  // no temporary file left
    EXPECT_EQ(mode_of("byport"), 0755u);
    EXPECT_EQ(mode_of("byport/80"), 0410u);  // u::r--, mask --x, o::---
    const Policy p = loaded();
    ASSERT_EQ(p.port_grants.size(), 1u);
    const AccessSpec& a = p.port_grants[0].access;
    EXPECT_EQ(a.owner_uid, geteuid());
    EXPECT_EQ(a.owner_gid, getegid());
    EXPECT_FALSE(a.owner_x);
    EXPECT_FALSE(a.group_x);
    EXPECT_FALSE(a.other_x);
    EXPECT_TRUE(a.has_acl);
    EXPECT_TRUE(a.mask_x);
    EXPECT_EQ(a.users, (std::vector<AclEntry>{{51001, true}}));
    EXPECT_TRUE(a.groups.empty());
}

TEST_F(EditGrant, CreatedEntriesAndDirsAreRootOwned) {
    PA_NEEDS_ROOT();
    EXPECT_OK(grant_allow(root(), grant("80@127.0.0.1"), {user(51001)}));
    struct stat st;
    ASSERT_EQ(stat(path("byaddr/127.0.0.1,80").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
    ASSERT_EQ(stat(path("byaddr").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_TRUE(load_policy(root()).ok());
}

TEST_F(EditGrant, AllowAddsToAnExistingEntry) {
    EXPECT_OK(grant_allow(root(), grant("8080"), {user(51001)}, options()));
    EXPECT_OK(grant_allow(root(), grant("8080"), {group(51002), user(51003)}, options()));
    EXPECT_OK(grant_allow(root(), grant("8080"), {user(51001)}, options()));  // already allowed: no error
    const Policy p = loaded();
    ASSERT_EQ(p.port_grants.size(), 1u);
    const AccessSpec& a = p.port_grants[0].access;
    EXPECT_EQ(a.users, (std::vector<AclEntry>{{51001, true}, {51003, true}}));
    EXPECT_EQ(a.groups, (std::vector<AclEntry>{{51002, true}}));
    EXPECT_TRUE(a.mask_x);
}

TEST_F(EditGrant, BangPortsAndAddresses) {
    EXPECT_OK(grant_allow(root(), grant("600"), {user(51001)}, options()));
    EXPECT_OK(grant_allow(root(), grant("600@[::1]"), {user(51001)}, options()));
    EXPECT_OK(grant_allow(root(), grant("80@127.0.0.1"), {user(51001)}, options()));
    EXPECT_TRUE(exists("byport/!600"));
    EXPECT_TRUE(exists("byaddr/!::1,600"));
    EXPECT_TRUE(exists("byaddr/127.0.0.1,80"));
    const Policy p = loaded();
    EXPECT_EQ(p.port_grants.size(), 1u);
    ASSERT_EQ(p.addr_grants.size(), 2u);
}

TEST_F(EditGrant, AllowEditsTheSpellingAuthbindConsultsFirst) {
    write("byaddr/127.0.0.1:80", "", 0400);
    EXPECT_OK(grant_allow(root(), grant("80@127.0.0.1"), {user(51001)}, options()));
    EXPECT_FALSE(exists("byaddr/127.0.0.1,80"));  // it would be shadowed by the ':' form
    const Policy p = loaded();
    ASSERT_EQ(p.addr_grants.size(), 1u);
    EXPECT_EQ(p.addr_grants[0].origin.file, "byaddr/127.0.0.1:80");
    EXPECT_EQ(p.addr_grants[0].access.users, (std::vector<AclEntry>{{51001, true}}));
}

TEST_F(EditGrant, EntriesTheMaskSwitchedOffStayOff) {
    write("byport/80", "", 0400);
    set_acl("byport/80", "u::r--,u:51001:--x,g::--x,m::---,o::---");
    EXPECT_OK(grant_allow(root(), grant("80"), {user(51002)}, options()));
    const AccessSpec a = loaded().port_grants.at(0).access;
    EXPECT_TRUE(a.mask_x);
    EXPECT_FALSE(a.group_x);
    EXPECT_EQ(a.users, (std::vector<AclEntry>{{51001, false}, {51002, true}}));
}

TEST_F(EditGrant, RevokeOneThenTheLast) {
    EXPECT_OK(grant_allow(root(), grant("80"), {user(51001), group(51002)}, options()));
    EXPECT_OK(grant_revoke(root(), grant("80"), {user(51001)}, options()));
    ASSERT_TRUE(exists("byport/80"));
    AccessSpec a = loaded().port_grants.at(0).access;
    EXPECT_TRUE(a.users.empty());
    EXPECT_EQ(a.groups, (std::vector<AclEntry>{{51002, true}}));
    EXPECT_OK(grant_revoke(root(), grant("80"), {group(51002)}, options()));
    EXPECT_FALSE(exists("byport/80"));
    EXPECT_TRUE(loaded().port_grants.empty());
}

TEST_F(EditGrant, RevokeSomeoneNotGrantedChangesNothing) {
    EXPECT_OK(grant_allow(root(), grant("80"), {user(51001)}, options()));
    EXPECT_ERROR_HAS(grant_revoke(root(), grant("80"), {user(51001), user(51099)}, options()), "uid 51099");
    EXPECT_EQ(loaded().port_grants.at(0).access.users, (std::vector<AclEntry>{{51001, true}}));
    EXPECT_ERROR_HAS(grant_revoke(root(), grant("80"), {group(51001)}, options()), "gid 51001 is not named in");
}

TEST_F(EditGrant, RevokeWithoutAnEntry) {
    EXPECT_ERROR_HAS(grant_revoke(root(), grant("80"), {user(51001)}, options()), "uid 51001 has no grant for port 80");
    EXPECT_ERROR_HAS(grant_revoke(root(), grant("80@127.0.0.1"), {user(51001)}, options()), path("byaddr/127.0.0.1,80"));
}

TEST_F(EditGrant, OwnerIsGrantedThroughTheOwnerBit) {
    const Principal me = user(geteuid());
    EXPECT_OK(grant_allow(root(), grant("80"), {me}, options()));
    AccessSpec a = loaded().port_grants.at(0).access;
    EXPECT_TRUE(a.owner_x);
    EXPECT_TRUE(a.users.empty());
    EXPECT_FALSE(a.has_acl);
    EXPECT_OK(grant_revoke(root(), grant("80"), {me}, options()));
    EXPECT_FALSE(exists("byport/80"));
}

TEST_F(EditGrant, UserOwnedEntries) {
    PA_NEEDS_ROOT();
    write("byport/80", "", 0500);
    chown("byport/80", 51001, 51001);
    EXPECT_ERROR_HAS(grant_revoke(root(), grant("80"), {user(51001)}), "uid 51001 owns");
    EXPECT_OK(grant_allow(root(), grant("80"), {user(51002)}));
    EXPECT_OK(grant_revoke(root(), grant("80"), {user(51002)}));
    ASSERT_TRUE(exists("byport/80"));  // the owner still gets through
    auto p = load_policy(root());
    ASSERT_TRUE(p.ok()) << p.error().message();
    const AccessSpec& a = p->port_grants.at(0).access;
    EXPECT_EQ(a.owner_uid, 51001u);
    EXPECT_TRUE(a.owner_x);
    EXPECT_FALSE(a.has_acl);
    EXPECT_TRUE(a.users.empty());
}

TEST_F(EditGrant, EmptyPrincipalListIsAnError) {
    EXPECT_ERROR_HAS(grant_allow(root(), grant("80"), {}, options()), "name at least one user or group");
    EXPECT_ERROR_HAS(grant_revoke(root(), grant("80"), {}, options()), "name at least one user or group");
    EXPECT_FALSE(exists("byport"));
}

TEST_F(EditGrant, RefusesATreeThatFailsHygiene) {
    write("byuid/1002", "", 0666);   // root's structure, writable by others: the whole tree is refused
    EXPECT_ERROR_HAS(grant_allow(root(), grant("80"), {user(51001)}, options()), path("byuid/1002"));
    EXPECT_FALSE(exists("byport/80"));
    ASSERT_EQ(unlink(path("byuid/1002").c_str()), 0);
    write("byuid/1001", "10.0.0.1/8,80\n");
    EXPECT_ERROR_HAS(reserve_add(root(), reserve("udp/5060"), {user(51001)}, options()), path("byuid/1001") + ":1:");
    EXPECT_FALSE(exists("reserve"));
}

// The attack of issue 11: the owner of one entry chmods it group-writable.
// That entry fails closed; the admin's edits of everything else still work.
TEST_F(EditGrant, EditsWorkWhileAUsersEntryIsDisabled) {
    write("reserve/udp/5090", "", 0570);
    EXPECT_OK(grant_allow(root(), grant("80"), {user(51001)}, options()));
    EXPECT_TRUE(exists("byport/80"));
    EXPECT_OK(grant_revoke(root(), grant("80"), {user(51001)}, options()));
    EXPECT_FALSE(exists("byport/80"));
    EXPECT_OK(reserve_add(root(), reserve("udp/5060"), {user(51002)}, options()));
    EXPECT_TRUE(exists("reserve/udp/5060"));
}

TEST_F(EditGrant, RefusesAMissingPolicyDir) {
    EXPECT_ERROR_HAS(grant_allow(root() + "/nope", grant("80"), {user(51001)}, options()), root() + "/nope");
    EXPECT_FALSE(exists("nope"));
}

TEST_F(EditReserve, AddCreatesAReservationThatLoads) {
    EXPECT_OK(reserve_add(root(), reserve("udp/5060"), {user(51001), group(51002)}, options()));
    EXPECT_OK(reserve_add(root(), reserve("tcp/443@[2001:db8::1]"), {user(51001)}, options()));
    EXPECT_EQ(mode_of("reserve"), 0755u);
    EXPECT_EQ(mode_of("reserve/udp"), 0755u);
    EXPECT_TRUE(exists("reserve/tcp/443@[2001:db8::1]"));
    const Policy p = loaded();
    ASSERT_EQ(p.reservations.size(), 2u);
    const Reservation& r = p.reservations[1];
    EXPECT_EQ(r.origin.file, "reserve/udp/5060");
    EXPECT_EQ(r.access.users, (std::vector<AclEntry>{{51001, true}}));
    EXPECT_EQ(r.access.groups, (std::vector<AclEntry>{{51002, true}}));
}

TEST_F(EditReserve, OverlapIsRefusedNamingBoth) {
    EXPECT_OK(reserve_add(root(), reserve("tcp/6000-6099"), {user(51001)}, options()));
    EXPECT_ERROR_HAS(reserve_add(root(), reserve("tcp/6050"), {user(51002)}, options()), path("reserve/tcp/6050"));
    EXPECT_ERROR_HAS(reserve_add(root(), reserve("tcp/6050"), {user(51002)}, options()), path("reserve/tcp/6000-6099"));
    EXPECT_ERROR_HAS(reserve_add(root(), reserve("tcp/5000-6000"), {user(51002)}, options()), "port 6000");
    EXPECT_FALSE(exists("reserve/tcp/6050"));
    EXPECT_OK(reserve_add(root(), reserve("tcp/6050@127.0.0.1"), {user(51002)}, options()));  // layering is fine
    EXPECT_OK(reserve_add(root(), reserve("udp/6050"), {user(51002)}, options()));
    EXPECT_EQ(loaded().reservations.size(), 3u);
}

TEST_F(EditReserve, AddingToTheSameReservationIsNoOverlap) {
    EXPECT_OK(reserve_add(root(), reserve("tcp/6000-6099"), {user(51001)}, options()));
    EXPECT_OK(reserve_add(root(), reserve("tcp/6000-6099"), {user(51002)}, options()));
    EXPECT_EQ(loaded().reservations.at(0).access.users, (std::vector<AclEntry>{{51001, true}, {51002, true}}));
}

TEST_F(EditReserve, AReservationWithoutOwners) {
    EXPECT_OK(reserve_add(root(), reserve("udp/5060"), {}, options()));
    const Policy p = loaded();
    ASSERT_EQ(p.reservations.size(), 1u);
    EXPECT_TRUE(describe_access(p.reservations[0].access).empty());
}

TEST_F(EditReserve, ReleaseOwnersThenTheLast) {
    EXPECT_OK(reserve_add(root(), reserve("udp/5060@127.0.0.1"), {user(51001), user(51002)}, options()));
    EXPECT_OK(reserve_release(root(), reserve("udp/5060@127.0.0.1"), {user(51001)}, options()));
    EXPECT_EQ(loaded().reservations.at(0).access.users, (std::vector<AclEntry>{{51002, true}}));
    EXPECT_ERROR_HAS(reserve_release(root(), reserve("udp/5060@127.0.0.1"), {user(51001)}, options()),
                     "uid 51001 is not named in");
    EXPECT_OK(reserve_release(root(), reserve("udp/5060@127.0.0.1"), {user(51002)}, options()));
    EXPECT_FALSE(exists("reserve/udp/5060@127.0.0.1"));
    EXPECT_TRUE(loaded().reservations.empty());
}

TEST_F(EditReserve, ReleaseEverythingWithAnEmptyList) {
    EXPECT_OK(reserve_add(root(), reserve("tcp/6000-6099"), {user(51001), group(51002)}, options()));
    EXPECT_OK(reserve_release(root(), reserve("tcp/6000-6099"), {}, options()));
    EXPECT_FALSE(exists("reserve/tcp/6000-6099"));
    EXPECT_TRUE(loaded().reservations.empty());
}

TEST_F(EditReserve, ReleaseOfAMissingReservation) {
    EXPECT_ERROR_HAS(reserve_release(root(), reserve("tcp/6000"), {}, options()), path("reserve/tcp/6000") + "' does not exist");
    EXPECT_ERROR_HAS(reserve_release(root(), reserve("tcp/6000"), {user(51001)}, options()), "uid 51001 has no share");
}

TEST(EditDescribe, WhoAnEntryLetsThrough) {
    AccessSpec a;
    EXPECT_TRUE(describe_access(a).empty());
    a.owner_uid = 0;
    a.owner_gid = 0;
    a.owner_x = true;
    a.group_x = true;
    EXPECT_EQ(texts(describe_access(a)), (std::vector<std::string>{"owner root (uid 0)", "group %root (gid 0)"}));

    a.owner_x = false;
    a.has_acl = true;
    a.mask_x = true;
    a.group_x = false;
    a.users = {{59998, true}, {59997, false}};
    a.groups = {{59996, true}};
    a.other_x = true;
    EXPECT_EQ(texts(describe_access(a)), (std::vector<std::string>{"uid 59998", "gid 59996", "everyone"}));

    a.mask_x = false;  // the mask switches off the whole group class
    a.group_x = true;
    EXPECT_EQ(texts(describe_access(a)), (std::vector<std::string>{"everyone"}));
}

// The typed form of the same words, for `list --json`'s "who" (docs/json.md).
TEST(EditDescribe, WhoIsTypedWithKindIdNameAndVia) {
    AccessSpec a;
    a.owner_uid = 0;
    a.owner_gid = 59990;
    a.owner_x = true;
    a.group_x = true;
    a.has_acl = true;
    a.mask_x = true;
    a.users = {{59998, true}};
    a.other_x = true;
    const auto who = describe_access(a);
    ASSERT_EQ(who.size(), 4u);
    EXPECT_EQ(who[0], (Who{Who::Kind::user, Who::Via::owner, 0, "root"}));
    EXPECT_EQ(who[1], (Who{Who::Kind::group, Who::Via::group, 59990, ""})) << "a gid without a name has none, not its number";
    EXPECT_EQ(who[2], (Who{Who::Kind::user, Who::Via::acl, 59998, ""}));
    EXPECT_EQ(who[3].kind, Who::Kind::everyone);
    EXPECT_EQ(who[3].via, Who::Via::other);
    EXPECT_EQ(texts(who), (std::vector<std::string>{"owner root (uid 0)", "group gid 59990", "uid 59998", "everyone"}));
    EXPECT_STREQ(via_name(user_who(51000, Who::Via::byuid).via), "byuid");
    EXPECT_EQ(user_who(51000, Who::Via::byuid).text(), "uid 51000");
    EXPECT_EQ(user_who(0, Who::Via::root).text(), "root (uid 0)");
    EXPECT_STREQ(kind_name(Who::Kind::group), "group");
}

// -rw-r-xr-- owned by U:U lets the group in and not U (access(2) judges the
// owner by the owner bits alone): list says who is left out.
TEST(EditDescribe, WhoAGroupOrEveryoneLeavesOut) {
    AccessSpec a;
    a.owner_uid = 59990;
    a.owner_gid = 59990;
    a.group_x = true;
    EXPECT_EQ(texts(describe_access(a)), (std::vector<std::string>{"group gid 59990"}));
    EXPECT_EQ(texts(describe_exclusions(a)), (std::vector<std::string>{"owner uid 59990"}));
    a.owner_x = true;
    EXPECT_TRUE(describe_exclusions(a).empty()) << "the owner is let through";
    a.owner_x = false;
    a.group_x = false;
    EXPECT_TRUE(describe_exclusions(a).empty()) << "nobody is let through, so nobody is left out";

    a.other_x = true;
    a.has_acl = true;
    a.mask_x = true;
    a.users = {{59991, false}, {59992, true}};
    a.groups = {{59993, false}, {59994, true}};
    EXPECT_EQ(texts(describe_exclusions(a)), (std::vector<std::string>{"owner uid 59990", "uid 59991", "group gid 59990", "gid 59993"}));
}

}  // namespace
}  // namespace portauth::testing
