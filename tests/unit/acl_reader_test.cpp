// The one ACL reader (lib/policy/acl_reader.hpp): what it reads from a file,
// and the pure step from an ACL to the AccessSpec a policy entry grants.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fd.hpp"
#include "policy/acl_reader.hpp"
#include "policy_fixture.hpp"

namespace portauth::testing {
namespace {

TEST(AclAccessSpec, ModeOnly) {
    const FileAcl acl = acl_from_mode(0751);
    EXPECT_EQ(acl.user_obj, 7);
    EXPECT_EQ(acl.group_obj, 5);
    EXPECT_EQ(acl.other, 1);
    EXPECT_FALSE(acl.mask);
    EXPECT_FALSE(acl.extended());
    const AccessSpec a = access_spec_of(acl, 10, 20);
    EXPECT_EQ(a.owner_uid, 10u);
    EXPECT_EQ(a.owner_gid, 20u);
    EXPECT_TRUE(a.owner_x);
    EXPECT_TRUE(a.group_x);
    EXPECT_TRUE(a.other_x);
    EXPECT_FALSE(a.has_acl);
    EXPECT_TRUE(a.mask_x) << "no mask limits the group class";
    EXPECT_TRUE(a.users.empty());
    EXPECT_TRUE(a.groups.empty());
    EXPECT_EQ(access_spec_of(acl_from_mode(0640), 0, 0), AccessSpec{});
}

TEST(AclAccessSpec, ExtendedAclTakesGroupObjAndMask) {
    FileAcl acl;
    acl.user_obj = kAclRead;
    acl.group_obj = kAclExecute;
    acl.mask = kAclRead;
    acl.users = {{51003, kAclRead}, {51001, kAclExecute}};
    acl.groups = {{51002, kAclRead | kAclExecute}};
    ASSERT_TRUE(acl.extended());
    const AccessSpec a = access_spec_of(acl, 0, 0);
    EXPECT_FALSE(a.owner_x);
    EXPECT_TRUE(a.group_x) << "ACL_GROUP_OBJ as written, before the mask";
    EXPECT_FALSE(a.other_x);
    EXPECT_TRUE(a.has_acl);
    EXPECT_FALSE(a.mask_x);
    EXPECT_EQ(a.users, (std::vector<AclEntry>{{51001, true}, {51003, false}})) << "sorted by id";
    EXPECT_EQ(a.groups, (std::vector<AclEntry>{{51002, true}}));

    FileAcl mask_only;
    mask_only.mask = kAclRead | kAclWrite | kAclExecute;
    EXPECT_TRUE(access_spec_of(mask_only, 0, 0).has_acl) << "a mask alone makes the ACL extended";
    EXPECT_TRUE(access_spec_of(mask_only, 0, 0).mask_x);
}

using AclRead = PolicyTreeTest;

TEST_F(AclRead, PlainFileIsItsMode) {
    write("entry", "", 0570);
    const Fd fd(::open(path("entry").c_str(), O_PATH | O_CLOEXEC));
    ASSERT_TRUE(fd);
    auto acl = read_acl(fd.get(), 0570, path("entry"), AclFd::path_only);
    ASSERT_TRUE(acl) << acl.error().message();
    EXPECT_EQ(acl->user_obj, 5);
    EXPECT_EQ(acl->group_obj, 7);
    EXPECT_EQ(acl->other, 0);
    EXPECT_FALSE(acl->extended());
}

TEST_F(AclRead, ExtendedAclByFdAndByPath) {
    write("entry", "", 0400);
    set_acl("entry", "u::r-x,u:51003:r--,u:51001:--x,g::-w-,g:51002:rwx,m::r-x,o::--x");
    const Fd readable(::open(path("entry").c_str(), O_RDONLY | O_CLOEXEC));
    const Fd path_only(::open(path("entry").c_str(), O_PATH | O_CLOEXEC));
    ASSERT_TRUE(readable);
    ASSERT_TRUE(path_only);
    struct stat st {};
    ASSERT_EQ(::fstat(readable.get(), &st), 0);
    for (const auto& [fd, how] : {std::pair{readable.get(), AclFd::readable}, std::pair{path_only.get(), AclFd::path_only}}) {
        auto acl = read_acl(fd, st.st_mode, path("entry"), how);
        ASSERT_TRUE(acl) << acl.error().message();
        EXPECT_EQ(acl->user_obj, kAclRead | kAclExecute);
        EXPECT_EQ(acl->group_obj, kAclWrite);
        EXPECT_EQ(acl->other, kAclExecute);
        EXPECT_EQ(acl->mask, kAclRead | kAclExecute);
        EXPECT_EQ(acl->users, (std::map<uint32_t, uint8_t>{{51001, kAclExecute}, {51003, kAclRead}}));
        EXPECT_EQ(acl->groups, (std::map<uint32_t, uint8_t>{{51002, kAclRead | kAclWrite | kAclExecute}}));
    }
}

TEST(AclReadErrors, CarryErrnoAndPath) {
    auto acl = read_acl(-1, 0644, "/nowhere/entry");
    ASSERT_FALSE(acl);
    EXPECT_EQ(acl.error().err, EBADF);
    EXPECT_EQ(acl.error().what, "cannot read the ACL of '/nowhere/entry'");
}

}  // namespace
}  // namespace portauth::testing
