// One table of users and groups, asked through every door that turns a user
// into ids: the principal parser (portauth allow/revoke/check --user,
// portreserve), the credentials a bind is judged with (portauth check,
// portwatch's squatters) and dropto's identity. common/user_database.hpp's
// rules say what each must answer; here they must agree.
#include <gtest/gtest.h>

#include <algorithm>

#include "dropto/identity.hpp"
#include "fake_user_database.hpp"
#include "policy/spec.hpp"
#include "portwatch/scanner.hpp"

namespace portauth {
namespace {

class SameTable : public ::testing::Test {
protected:
    void SetUp() override {
        db.add_user("www-data", 33, 33, "/var/www");
        db.add_user("1000", 1001, 1001, "/home/x");   // digits naming another uid: ambiguous
        db.add_user("1002", 1002, 1002, "");          // digits naming their own uid: no doubt
        db.add_user("many", 2000, 2000, "/home/many");
        db.add_group("www-data", 33);
        db.add_group("adm", 4, {"www-data"});
        db.add_group("ssl-cert", 110, {"www-data"});
        db.add_group("1001", 1001);
        db.add_group("1002", 1002);
        db.add_group("many", 2000);
        // More groups than any fixed buffer a lookup might guess.
        for (uint32_t g = 3000; g < 3600; ++g) db.add_group("g" + std::to_string(g), g, {"many"});
    }

    // What each door says about USER: the uid, or the error's text.
    struct Answers {
        std::string principal, dropto;
        std::optional<Credentials> judged, watched;
    };
    Answers ask(const std::string& user) {
        Answers a;
        auto p = parse_principal(user, db);
        a.principal = p ? std::to_string(p->id) : p.error().what;
        auto spec = dropto::parse_target(user);
        auto id = dropto::resolve_identity(*spec, dropto::GroupsSource::database, {}, db);
        a.dropto = id ? std::to_string(id->uid) : id.error().what;
        if (p) {
            auto c = judged_credentials(p->id, db);
            if (c) a.judged = *c;
            a.watched = watch::credentials_for_uid(p->id, db);
        }
        return a;
    }

    testing::FakeUserDatabase db;
};

std::vector<uint32_t> sorted(std::vector<uint32_t> v) {
    std::sort(v.begin(), v.end());
    return v;
}

TEST_F(SameTable, APasswdUserIsTheSameUserWithTheSameGroupsEverywhere) {
    for (const std::string user : {"www-data", "33"}) {
        const auto a = ask(user);
        EXPECT_EQ(a.principal, "33") << user;
        EXPECT_EQ(a.dropto, "33") << user;
        ASSERT_TRUE(a.judged && a.watched) << user;
        EXPECT_EQ(a.judged->egid, 33u);
        EXPECT_EQ(sorted(a.judged->groups), (std::vector<uint32_t>{4, 33, 110}));
        EXPECT_EQ(a.watched->egid, a.judged->egid);
        EXPECT_EQ(a.watched->groups, a.judged->groups);
        auto spec = dropto::parse_target(user);
        auto id = dropto::resolve_identity(*spec, dropto::GroupsSource::database, {}, db);
        ASSERT_TRUE(id.ok());
        EXPECT_EQ(id->gid, a.judged->egid);
        EXPECT_EQ(id->groups, sorted(a.judged->groups)) << "dropto sets exactly the groups a bind is judged with";
    }
}

TEST_F(SameTable, AllOfAUsersGroupsHoweverMany) {
    const auto a = ask("many");
    ASSERT_TRUE(a.judged);
    EXPECT_EQ(a.judged->groups.size(), 601u) << "the primary gid and 600 member groups, none dropped";
    EXPECT_EQ(a.watched->groups, a.judged->groups);
    auto id = dropto::resolve_identity(*dropto::parse_target("many"), dropto::GroupsSource::database, {}, db);
    ASSERT_TRUE(id.ok()) << id.error().message();
    EXPECT_EQ(id->groups.size(), 601u);
}

TEST_F(SameTable, DigitsNamingAnotherUserAreAmbiguousEverywhere) {
    const auto a = ask("1000");
    EXPECT_EQ(a.principal, "user '1000' is ambiguous: it is uid 1000 and also the name of uid 1001");
    EXPECT_EQ(a.dropto, a.principal);
    const auto g = parse_principal("%1001", db);
    ASSERT_TRUE(g.ok()) << "a group named by its own number is no doubt";
    db.add_group("50", 51);
    const auto ambiguous = parse_principal("%50", db);
    ASSERT_FALSE(ambiguous.ok());
    EXPECT_EQ(ambiguous.error().what, "group '50' is ambiguous: it is gid 50 and also the name of gid 51");

    const auto own = ask("1002");
    EXPECT_EQ(own.principal, "1002");
    EXPECT_EQ(own.dropto, "1002");
}

TEST_F(SameTable, AUidWithoutPasswdEntryIsJudgedWithItsOwnNumberAndDroptoAsksForAGroup) {
    const auto a = ask("51000");
    EXPECT_EQ(a.principal, "51000");
    ASSERT_TRUE(a.judged && a.watched);
    EXPECT_EQ(a.judged->egid, 51000u) << "the gid of the same number, assumed";
    EXPECT_TRUE(a.judged->groups.empty());
    EXPECT_EQ(a.watched->egid, 51000u);
    EXPECT_TRUE(a.watched->groups.empty());
    EXPECT_EQ(a.dropto, "uid 51000 has no passwd entry, so it has no primary group: name one, as 51000:GROUP")
        << "dropto never acts on the assumed gid";
    auto c = credentials_for(51000, db);
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(c->gid_assumed);
    EXPECT_EQ(c->home, "/");
}

TEST_F(SameTable, UnknownNamesAreErrorsEverywhere) {
    const auto a = ask("nosuch");
    EXPECT_EQ(a.principal, "unknown user 'nosuch'");
    EXPECT_EQ(a.dropto, a.principal);
    EXPECT_FALSE(a.judged);
}

TEST_F(SameTable, ADatabaseFailureIsAnErrorWithItsErrnoNotAGuess) {
    db.fail["group_list"] = EIO;
    auto judged = judged_credentials(33, db);
    ASSERT_FALSE(judged.ok());
    EXPECT_EQ(judged.error().err, EIO);
    EXPECT_EQ(judged.error().what, "getgrouplist for user 'www-data' (uid 33)");
    db.fail.clear();
    db.fail["user_by_name"] = EIO;
    auto p = parse_principal("www-data", db);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().err, EIO);
    EXPECT_EQ(p.error().what, "looking up user 'www-data'");
}

}  // namespace
}  // namespace portauth
