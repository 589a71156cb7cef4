// USER[:GROUP] and --groups parsing, and resolution against a fake user database.
#include <gtest/gtest.h>

#include "dropto/identity.hpp"
#include "dropto_fakes.hpp"

namespace portauth::dropto {
namespace {

using testing::FakeUserDatabase;

TEST(DroptoParseTarget, UserOnly) {
    auto spec = parse_target("www-data");
    ASSERT_TRUE(spec.ok());
    EXPECT_EQ(spec->user, "www-data");
    EXPECT_FALSE(spec->group.has_value());
}

TEST(DroptoParseTarget, UserAndGroup) {
    auto spec = parse_target("51000:adm");
    ASSERT_TRUE(spec.ok());
    EXPECT_EQ(spec->user, "51000");
    EXPECT_EQ(spec->group, "adm");
}

TEST(DroptoParseTarget, RejectsMalformed) {
    for (const char* bad : {"", ":adm", "www-data:", "a:b:c", ":"}) {
        auto spec = parse_target(bad);
        ASSERT_FALSE(spec.ok()) << bad;
        EXPECT_EQ(spec.error().err, 0) << bad;
        EXPECT_NE(spec.error().what.find("invalid USER[:GROUP]"), std::string::npos) << bad;
    }
}

TEST(DroptoParseGroupList, SplitsOnCommas) {
    auto list = parse_group_list("adm,51000,ssl-cert");
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(*list, (std::vector<std::string>{"adm", "51000", "ssl-cert"}));
}

TEST(DroptoParseGroupList, RejectsEmptyItems) {
    for (const char* bad : {"", ",", "a,,b", ",a", "a,"}) EXPECT_FALSE(parse_group_list(bad).ok()) << bad;
}

class DroptoResolve : public ::testing::Test {
protected:
    void SetUp() override {
        db.add_user("www-data", 33, 33, "/var/www");
        db.add_user("nohome", 40, 40, "");
        db.add_user("1000", 1001, 1001, "/home/x");  // a name that looks like a uid
        db.add_user("1002", 1002, 1002, "/home/y");  // ...and one that agrees with it
        db.add_group("www-data", 33);
        db.add_group("adm", 4, {"www-data", "someone"});
        db.add_group("ssl-cert", 110, {"www-data"});
        db.add_group("staff", 50);
        db.add_group("2000", 2001);
    }

    Result<Identity> resolve(std::string_view target, GroupsSource source = GroupsSource::database,
                             std::vector<std::string> list = {}) {
        auto spec = parse_target(target);
        EXPECT_TRUE(spec.ok());
        return resolve_identity(*spec, source, list, db);
    }

    FakeUserDatabase db;
};

TEST_F(DroptoResolve, NamedUserGetsPrimaryAndMemberGroups) {
    auto id = resolve("www-data");
    ASSERT_TRUE(id.ok()) << id.error().message();
    EXPECT_EQ(id->uid, 33u);
    EXPECT_EQ(id->gid, 33u);
    EXPECT_EQ(id->groups, (std::vector<uint32_t>{4, 33, 110}));  // sorted
    EXPECT_EQ(id->home, "/var/www");
    EXPECT_EQ(id->login_name(), "www-data");
    EXPECT_EQ(id->describe_user(), "user 'www-data' (uid 33)");
    EXPECT_EQ(id->describe_group(), "group 'www-data' (gid 33)");
}

TEST_F(DroptoResolve, NumericUidWithPasswdEntryIsThatUser) {
    auto id = resolve("33");
    ASSERT_TRUE(id.ok()) << id.error().message();
    EXPECT_EQ(id->user_name, "www-data");
    EXPECT_EQ(id->gid, 33u);
    EXPECT_EQ(id->groups, (std::vector<uint32_t>{4, 33, 110}));
}

TEST_F(DroptoResolve, GroupReplacesThePrimaryGid) {
    auto id = resolve("www-data:staff");
    ASSERT_TRUE(id.ok()) << id.error().message();
    EXPECT_EQ(id->gid, 50u);
    EXPECT_EQ(id->describe_group(), "group 'staff' (gid 50)");
    // getgrouplist(name, 50): the passwd gid 33 is not a member group, so it is gone.
    EXPECT_EQ(id->groups, (std::vector<uint32_t>{4, 50, 110}));
}

TEST_F(DroptoResolve, NumericUidWithoutPasswdEntryNeedsAGroup) {
    auto id = resolve("51000");
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.error().err, 0);
    EXPECT_NE(id.error().what.find("no passwd entry"), std::string::npos);
    EXPECT_NE(id.error().what.find("51000:GROUP"), std::string::npos);
}

TEST_F(DroptoResolve, NumericUidWithoutPasswdEntryGetsNoGroupsAndRootHome) {
    auto id = resolve("51000:51001");
    ASSERT_TRUE(id.ok()) << id.error().message();
    EXPECT_EQ(id->uid, 51000u);
    EXPECT_EQ(id->gid, 51001u);
    EXPECT_TRUE(id->groups.empty());
    EXPECT_EQ(id->home, "/");
    EXPECT_EQ(id->login_name(), "51000");
    EXPECT_EQ(id->describe_user(), "uid 51000");
    EXPECT_EQ(id->describe_group(), "gid 51001");
}

TEST_F(DroptoResolve, EmptyHomeBecomesRoot) {
    auto id = resolve("nohome:staff");
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id->home, "/");
}

TEST_F(DroptoResolve, UnknownNamesAreErrorsNeverFallbacks) {
    auto user = resolve("nosuch");
    ASSERT_FALSE(user.ok());
    EXPECT_EQ(user.error().err, 0);
    EXPECT_EQ(user.error().what, "unknown user 'nosuch'");

    auto group = resolve("www-data:nosuch");
    ASSERT_FALSE(group.ok());
    EXPECT_EQ(group.error().what, "unknown group 'nosuch'");

    auto listed = resolve("www-data", GroupsSource::list, {"adm", "nosuch"});
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().what, "unknown group 'nosuch'");
}

TEST_F(DroptoResolve, AmbiguousNumericNamesAreRefused) {
    auto user = resolve("1000");
    ASSERT_FALSE(user.ok());
    EXPECT_EQ(user.error().err, 0);
    EXPECT_NE(user.error().what.find("ambiguous"), std::string::npos);

    auto group = resolve("www-data:2000");
    ASSERT_FALSE(group.ok());
    EXPECT_NE(group.error().what.find("ambiguous"), std::string::npos);

    auto agreeing = resolve("1002");  // named "1002" and uid 1002: no doubt
    ASSERT_TRUE(agreeing.ok()) << agreeing.error().message();
    EXPECT_EQ(agreeing->uid, 1002u);
}

TEST_F(DroptoResolve, NoGroupsAndExplicitGroups) {
    auto none = resolve("www-data", GroupsSource::none);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->groups.empty());
    EXPECT_EQ(none->gid, 33u);

    auto listed = resolve("www-data", GroupsSource::list, {"ssl-cert", "51234", "adm", "ssl-cert"});
    ASSERT_TRUE(listed.ok()) << listed.error().message();
    EXPECT_EQ(listed->groups, (std::vector<uint32_t>{4, 110, 51234}));
}

TEST_F(DroptoResolve, DatabaseFailuresCarryTheErrno) {
    db.fail["user_by_name"] = EIO;
    auto id = resolve("www-data");
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.error().err, EIO);
    EXPECT_EQ(id.error().what, "looking up user 'www-data'");

    db.fail.clear();
    db.fail["group_list"] = EIO;
    auto groups = resolve("www-data");
    ASSERT_FALSE(groups.ok());
    EXPECT_EQ(groups.error().err, EIO);
    EXPECT_EQ(groups.error().what, "getgrouplist for user 'www-data' (uid 33)");
}

}  // namespace
}  // namespace portauth::dropto
