// Issue 11's attack, played by the attacker: uid 52001 owns its own
// reservation entry (authbind lets a user own the entry that names them) and
// makes it group-writable with chmod or setfacl. That must cost that entry
// alone - it fails closed - and never block the admin's edits or switch the
// rest of the policy off, now or after unload + apply (what a reboot does).
#include <gtest/gtest.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "sandbox.hpp"

namespace {

using sandbox::Creds;
using sandbox::Sandbox;

const Creds kOwner{52001, 52001, {}};   // owns reserve/udp/5090 and is granted port 80
const Creds kOther{52002, 52002, {}};
const Creds kSip{52003, 52003, {}};      // owns udp/5060
const Creds kRoot{0, 0, {}};

// Runs `argv` (or chmod when argv is empty) as `who`; its exit status.
int as_user(const Creds& who, const std::vector<std::string>& argv, const std::string& chmod_path = "", mode_t mode = 0) {
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, nullptr) != 0 || setresgid(who.gid, who.gid, who.gid) != 0 || setresuid(who.uid, who.uid, who.uid) != 0)
            _exit(120);
        if (argv.empty()) _exit(::chmod(chmod_path.c_str(), mode) == 0 ? 0 : 121);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// The row of `list` output for `entry`.
std::string row(const std::string& out, const std::string& entry) {
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(entry + " ", 0) == 0) return line;
    return "";
}

class AdversaryEntries : public ::testing::TestWithParam<const char*> {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF, other uids)";
        sb = std::make_unique<Sandbox>();
        sb->entry("reserve/udp/5090", kOwner.uid, kOwner.gid, 0500);
        sb->entry("reserve/udp/5060", 0, 0, 0400, "u:52003:x,m::x");
        sb->entry("byport/80", 0, 0, 0400, "u:52001:x,m::x");
        ASSERT_EQ(sb->apply().status, 0);
        ASSERT_EQ(sb->bind(kOwner, "udp", "127.0.0.1", 5090), 0);
        ASSERT_EQ(sb->bind(kOwner, "tcp", "127.0.0.1", 80), 0);
    }

    void attack() {
        const std::string entry = sb->policy_dir() + "/reserve/udp/5090";
        if (std::string(GetParam()) == "chmod")
            ASSERT_EQ(as_user(kOwner, {}, entry, 0570), 0);
        else
            ASSERT_EQ(as_user(kOwner, {"setfacl", "-m", "m::rwx,g::rwx", entry}), 0);
        struct stat st {};
        ASSERT_EQ(stat(entry.c_str(), &st), 0);
        ASSERT_NE(st.st_mode & S_IWGRP, 0u) << "the attack did not make the entry group-writable";
    }

    // What must hold whatever the owner did to their entry.
    void expect_policy_holds(const std::string& when) {
        EXPECT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5060), EACCES) << when << ": another user's reservation stays";
        EXPECT_EQ(sb->bind(kSip, "udp", "127.0.0.1", 5060), 0) << when;
        EXPECT_EQ(sb->bind(kOwner, "udp", "127.0.0.1", 5090), EACCES) << when << ": the disabled reservation is root's only";
        EXPECT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5090), EACCES) << when;
        EXPECT_EQ(sb->bind(kRoot, "udp", "127.0.0.1", 5090), 0) << when;
    }

    std::unique_ptr<Sandbox> sb;
};

TEST_P(AdversaryEntries, OwnersAttackCostsOnlyTheirEntry) {
    attack();
    auto r = sb->apply();
    EXPECT_EQ(r.status, 2) << "applied, with entries disabled\n" << r.err;
    EXPECT_NE(r.err.find(sb->policy_dir() + "/reserve/udp/5090"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("reserved for root only"), std::string::npos) << r.err;
    expect_policy_holds("after apply");

    // The admin's revoke works and takes effect (it re-applies: exit 2 again).
    r = sb->portauth({"revoke", "80", "52001"});
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_EQ(sb->bind(kOwner, "tcp", "127.0.0.1", 80), EACCES) << "the revoke is enforced";

    // A reboot: nothing enforced, then apply.
    ASSERT_EQ(sb->portauth({"unload"}).status, 0);
    EXPECT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5060), 0) << "unloaded";
    r = sb->apply();
    EXPECT_EQ(r.status, 2) << r.err;
    expect_policy_holds("after unload + apply");
    EXPECT_EQ(sb->bind(kOwner, "tcp", "127.0.0.1", 80), EACCES);

    // list names the disabled entry, and what is left of it.
    r = sb->portreserve({"list"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(row(r.out, "udp/5090").find("root (uid 0) only (disabled: writable by group or other"), std::string::npos) << r.out;
    EXPECT_EQ(row(r.out, "udp/5060").find("disabled"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(ChmodAndSetfacl, AdversaryEntries, ::testing::Values("chmod", "setfacl"));

// What the admin sees of the attack in `list`: the owner's chmod g+w turns
// their entries off, and the rows say so and why, instead of "(nobody)" for
// the grant and "owner root" for the reservation. Nothing is applied or bound.
TEST(AdversaryEntriesList, ListSaysWhichEntriesTheOwnerDisabledAndWhy) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (a root-owned policy tree, other uids)";
    Sandbox sb;
    sb.entry("byport/8080", kOwner.uid, kOwner.gid, 0500);
    sb.entry("reserve/udp/5090", kOwner.uid, kOwner.gid, 0500);
    sb.entry("byport/80", 0, 0, 0400, "u:52001:x,m::x");

    auto grants = sb.portauth({"list"});
    ASSERT_EQ(grants.status, 0) << grants.err;
    EXPECT_EQ(grants.out.find("disabled"), std::string::npos) << grants.out;
    EXPECT_NE(row(grants.out, "byport/8080").find("owner uid 52001"), std::string::npos) << grants.out;

    for (const char* rel : {"byport/8080", "reserve/udp/5090"})
        ASSERT_EQ(as_user(kOwner, {}, sb.policy_dir() + "/" + rel, 0570), 0) << rel;

    grants = sb.portauth({"list"});
    EXPECT_EQ(grants.status, 0) << "list's exit status does not change\n" << grants.err;
    const std::string grant = row(grants.out, "byport/8080");
    EXPECT_EQ(grant.find("owner uid 52001"), std::string::npos) << grants.out;
    EXPECT_NE(grant.find("nobody (disabled: writable by group or other (mode 0570)"), std::string::npos) << grants.out;
    EXPECT_NE(grant.find("owned by uid 52001"), std::string::npos) << "the row says who can change it again\n" << grants.out;
    EXPECT_EQ(row(grants.out, "byport/80").find("disabled"), std::string::npos) << "root's entry is not\n" << grants.out;
    EXPECT_NE(row(grants.out, "byport/80").find("uid 52001"), std::string::npos) << grants.out;

    auto reservations = sb.portreserve({"list"});
    EXPECT_EQ(reservations.status, 0) << reservations.err;
    const std::string reservation = row(reservations.out, "udp/5090");
    EXPECT_NE(reservation.find("root (uid 0) only (disabled: writable by group or other (mode 0570)"), std::string::npos)
        << reservations.out;
    EXPECT_EQ(reservation.find("owner"), std::string::npos) << reservations.out;

    grants = sb.portauth({"list", "--json"});
    EXPECT_EQ(grants.status, 0) << grants.err;
    const std::string tree = ",\"tree\":\"" + sb.policy_dir() + "\"";   // docs/json.md, [].tree
    EXPECT_NE(grants.out.find("{\"entry\":\"byport/8080\"" + tree + ",\"principals\":[],\"disabled\":true,"
                              "\"disabled_reason\":\"writable by group or other (mode 0570)"),
              std::string::npos)
        << grants.out;
    EXPECT_NE(grants.out.find("{\"entry\":\"byport/80\"" + tree + ",\"principals\":[\"uid 52001\"],\"disabled\":false,\"disabled_reason\":null,"
                              "\"who\":[{\"kind\":\"user\",\"id\":52001,\"name\":null,\"via\":\"acl\"}]}"),
              std::string::npos)
        << grants.out;
    reservations = sb.portreserve({"list", "--json"});
    EXPECT_EQ(reservations.status, 0) << reservations.err;
    EXPECT_NE(reservations.out.find("{\"entry\":\"udp/5090\"" + tree + ",\"principals\":[\"root (uid 0)\"],\"disabled\":true,"
                                    "\"disabled_reason\":\"writable by group or other (mode 0570)"),
              std::string::npos)
        << reservations.out;
    EXPECT_NE(reservations.out.find("\"who\":[{\"kind\":\"user\",\"id\":0,\"name\":\"root\",\"via\":\"root\"}]"), std::string::npos)
        << "the disabled reservation is uid 0's alone, typed too\n" << reservations.out;
}

}  // namespace
