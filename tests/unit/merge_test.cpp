// One policy from two trees (policy/tree.hpp, PolicySources): the policy dir
// and an authbind tree merged under it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "policy/snapshot.hpp"
#include "policy/tree.hpp"
#include "policy_fixture.hpp"

namespace portauth::testing {
namespace {

// The fixture's policy dir plus an authbind tree beside it, tmp()/authbind.
class TreeMerge : public PolicyTreeTest {
protected:
    void SetUp() override {
        PolicyTreeTest::SetUp();
        authbind_ = tmp() + "/authbind";
        ASSERT_EQ(::mkdir(authbind_.c_str(), 0755), 0);
        ASSERT_EQ(::chmod(authbind_.c_str(), 0755), 0);
    }

    // A file in the authbind tree (parents 0755).
    void write_authbind(const std::string& rel, const std::string& content = "", mode_t mode = 0644) const {
        const std::filesystem::path p = authbind_ + "/" + rel;
        for (auto dir = p.parent_path(); dir != authbind_ && !std::filesystem::exists(dir); dir = p.parent_path()) {
            std::filesystem::create_directories(dir);
            ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
        }
        {
            std::ofstream out(p, std::ios::binary | std::ios::trunc);
            ASSERT_TRUE(out) << rel;
            out << content;
        }
        ASSERT_EQ(::chmod(p.c_str(), mode), 0) << rel;
    }

    Result<Policy> load_both() const { return load_policy(PolicySources{root(), authbind_}, options()); }
    std::string in_authbind(const std::string& rel) const { return authbind_ + "/" + rel; }

    std::string authbind_;
};

// Sets or unsets an environment variable for one test; puts it back after.
class EnvFor {
public:
    EnvFor(const char* name, const std::optional<std::string>& value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) ::setenv(name, value->c_str(), 1);
        else ::unsetenv(name);
    }
    ~EnvFor() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

TEST_F(TreeMerge, GrantsAreTheUnionAndAuthbindEntriesAreNamedByTheirPath) {
    write("byport/80", "", 0500);
    write_authbind("byport/443", "", 0500);
    write_authbind("byaddr/::1,8080", "", 0500);
    write_authbind("byuid/51000", "# a comment\n127.0.0.1/32,5000-5001\n");
    auto policy = load_both();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    EXPECT_EQ(policy->dir, root());
    EXPECT_EQ(policy->authbind_dir, tmp() + "/authbind");
    ASSERT_EQ(policy->port_grants.size(), 2u);
    EXPECT_EQ(policy->port_grants[0].origin.file, "byport/80");
    EXPECT_TRUE(policy->port_grants[0].origin.in_policy_dir());
    EXPECT_EQ(policy->port_grants[1].origin.file, in_authbind("byport/443"));
    EXPECT_FALSE(policy->port_grants[1].origin.in_policy_dir());
    ASSERT_EQ(policy->addr_grants.size(), 1u);
    EXPECT_EQ(policy->addr_grants[0].origin.file, in_authbind("byaddr/::1,8080"));
    ASSERT_EQ(policy->uid_grants.size(), 1u);
    ASSERT_EQ(policy->uid_grants[0].lines.size(), 1u);
    EXPECT_EQ(policy->uid_grants[0].lines[0].origin.str(), in_authbind("byuid/51000") + ":2");
    EXPECT_EQ(tree_of(*policy, policy->port_grants[0].origin), root());
    EXPECT_EQ(tree_of(*policy, policy->port_grants[1].origin), tmp() + "/authbind");
    EXPECT_TRUE(policy->shadowed.empty());
}

TEST_F(TreeMerge, AnEntryOfTheSameNameInThePolicyDirShadowsAuthbinds) {
    write("byport/80", "", 0500);
    write_authbind("byport/80", "", 0555);
    write_authbind("byport/81", "", 0555);
    auto policy = load_both();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->port_grants.size(), 2u);
    EXPECT_EQ(policy->port_grants[0].origin.file, "byport/80");
    EXPECT_FALSE(policy->port_grants[0].access.other_x) << "the policy dir's entry, not authbind's";
    EXPECT_EQ(policy->port_grants[1].origin.file, in_authbind("byport/81"));
    EXPECT_EQ(policy->shadowed, std::vector<std::string>{in_authbind("byport/80")});
}

TEST_F(TreeMerge, TwoSpellingsOfOneAddressAreTwoNamesAndRankDecides) {
    write("byaddr/127.0.0.1,80", "", 0500);
    write_authbind("byaddr/127.0.0.1:80", "", 0555);
    auto policy = load_both();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->addr_grants.size(), 2u);
    EXPECT_EQ(policy->addr_grants[0].rank, 0);
    EXPECT_EQ(policy->addr_grants[0].origin.file, in_authbind("byaddr/127.0.0.1:80"));
    EXPECT_TRUE(policy->shadowed.empty());
}

TEST_F(TreeMerge, ReservationsAndSettingsComeFromThePolicyDirOnly) {
    write_authbind("reserve/udp/5060", "", 0500);
    auto refused = load_both();
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message().find(in_authbind("reserve")), std::string::npos) << refused.error().message();
    EXPECT_NE(refused.error().message().find("grants only"), std::string::npos) << refused.error().message();
    std::filesystem::remove_all(in_authbind("reserve"));
    write_authbind("portauth.conf", "root-exempt = no\n");
    auto conf = load_both();
    ASSERT_FALSE(conf.ok());
    EXPECT_NE(conf.error().message().find(in_authbind("portauth.conf")), std::string::npos) << conf.error().message();
}

TEST_F(TreeMerge, ABrokenAuthbindTreeRefusesThePolicyAndAWritableEntryCostsItself) {
    write_authbind("byport/eighty");
    auto refused = load_both();
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message().find(in_authbind("byport/eighty")), std::string::npos) << refused.error().message();
    std::filesystem::remove(in_authbind("byport/eighty"));
    write_authbind("byport/8080", "", 0577);
    auto policy = load_both();
    ASSERT_TRUE(policy.ok()) << policy.error().message();
    ASSERT_EQ(policy->disabled.size(), 1u);
    EXPECT_EQ(policy->disabled[0].origin.file, in_authbind("byport/8080"));
    EXPECT_NE(policy->disabled[0].reason.find(in_authbind("byport/8080")), std::string::npos);
}

TEST_F(TreeMerge, AMissingEmptyOrSameAuthbindDirMergesNothing) {
    write("byport/80", "", 0500);
    for (const std::string& dir : {tmp() + "/nope", std::string(), root(), root() + "/"}) {
        auto policy = load_policy(PolicySources{root(), dir}, options());
        ASSERT_TRUE(policy.ok()) << dir << ": " << policy.error().message();
        EXPECT_EQ(policy->port_grants.size(), 1u) << dir;
        EXPECT_TRUE(policy->authbind_dir.empty()) << dir;
    }
}

TEST_F(TreeMerge, TheHashAndTheSnapshotCoverBothTrees) {
    write("byport/80", "", 0500);
    auto alone = load_policy(PolicySources{root(), ""}, options());
    ASSERT_TRUE(alone.ok());
    auto empty_authbind = load_both();
    ASSERT_TRUE(empty_authbind.ok());
    write_authbind("byport/443", "", 0500);
    auto both = load_both();
    ASSERT_TRUE(both.ok());
    EXPECT_NE(policy_hash(*alone), policy_hash(*both));
    EXPECT_NE(policy_hash(*empty_authbind), policy_hash(*both));
    auto back = parse_policy(serialize_policy(*both), "test");
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(back->authbind_dir, both->authbind_dir);
    ASSERT_EQ(back->port_grants.size(), 2u);
    EXPECT_EQ(back->port_grants[1].origin.file, in_authbind("byport/443"));
    EXPECT_EQ(policy_hash(*back), policy_hash(*both));
    const PolicyDrift drift = policy_drift(*empty_authbind, *both);
    EXPECT_EQ(drift.added, std::vector<std::string>{in_authbind("byport/443")});
}

TEST(TreeMergeDefaults, AuthbindTreeOnlyWithTheDefaultPolicyDirUnlessNamed) {
    {
        EnvFor unset("PORTAUTH_AUTHBIND_DIR", std::nullopt);
        EXPECT_EQ(default_authbind_dir("/etc/portauth"), "/etc/authbind");
        EXPECT_EQ(default_authbind_dir("/srv/policy"), "");
        EXPECT_EQ(default_authbind_dir("/etc/authbind"), "") << "PORTAUTH_POLICY_DIR=/etc/authbind reads one tree";
    }
    {
        EnvFor named("PORTAUTH_AUTHBIND_DIR", "/tmp/ab");
        EXPECT_EQ(default_authbind_dir("/srv/policy"), "/tmp/ab");
        EXPECT_EQ(default_authbind_dir("/etc/portauth"), "/tmp/ab");
    }
    {
        EnvFor none("PORTAUTH_AUTHBIND_DIR", "");
        EXPECT_EQ(default_authbind_dir("/etc/portauth"), "");
    }
}

TEST(TreeMergePure, LowerEntriesAreRenamedUpperSettingsAndReservationsKept) {
    Policy upper, lower;
    upper.dir = "/etc/portauth";
    upper.settings.root_exempt = false;
    upper.port_grants.push_back({80, {}, {"byport/80", 0}});
    upper.reservations.push_back({Proto::udp, 5060, 5060, std::nullopt, {}, {"reserve/udp/5060", 0}});
    lower.port_grants.push_back({80, {}, {"byport/80", 0}});
    lower.port_grants.push_back({22, {}, {"byport/22", 0}});
    lower.disabled.push_back({{"byport/22", 0}, "writable"});
    const Policy merged = merge_policies(upper, lower, "/etc/authbind");
    EXPECT_FALSE(merged.settings.root_exempt);
    EXPECT_EQ(merged.reservations.size(), 1u);
    ASSERT_EQ(merged.port_grants.size(), 2u);
    EXPECT_EQ(merged.port_grants[0].origin.file, "/etc/authbind/byport/22");
    EXPECT_EQ(merged.port_grants[1].origin.file, "byport/80");
    ASSERT_EQ(merged.disabled.size(), 1u);
    EXPECT_EQ(merged.disabled[0].origin.file, "/etc/authbind/byport/22");
    EXPECT_EQ(merged.shadowed, std::vector<std::string>{"/etc/authbind/byport/80"});
    EXPECT_EQ(merged.authbind_dir, "/etc/authbind");
}

}  // namespace
}  // namespace portauth::testing
