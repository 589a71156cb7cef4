// Issue 11: the last good policy survives, and what the kernel enforces and
// what the files say are never silently different. A refused tree at "boot"
// (unload, then apply: what a reboot does) loads the last good policy loudly;
// --no-fallback loads nothing; a refused tree with a policy in force keeps it;
// a hand edit is drift that status and check name; a last-good file someone
// could have tampered with is not trusted. Each test in its own network
// namespace, in the Sandbox (its own PORTAUTH_STATE_DIR). And apply names a
// socket that already holds a port it has just reserved.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "sandbox.hpp"

namespace {

using sandbox::Creds;
using sandbox::Sandbox;

const Creds kSip{52003, 52003, {}};     // owns udp/5060
const Creds kWeb{52004, 52004, {}};     // granted tcp/80
const Creds kOther{52005, 52005, {}};   // nobody in the policy

class LastGood : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF, other uids)";
        sb = std::make_unique<Sandbox>();
        sb->entry("reserve/udp/5060", 0, 0, 0400, "u:52003:x,m::x");
        sb->entry("byport/80", 0, 0, 0400, "u:52004:x,m::x");
        auto r = sb->apply();
        ASSERT_EQ(r.status, 0) << r.err;
        expect_enforced("after the first apply");
    }

    void expect_enforced(const std::string& when) {
        EXPECT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5060), EACCES) << when;
        EXPECT_EQ(sb->bind(kSip, "udp", "127.0.0.1", 5060), 0) << when;
        EXPECT_EQ(sb->bind(kWeb, "tcp", "127.0.0.1", 80), 0) << when;
        EXPECT_EQ(sb->bind(kOther, "tcp", "127.0.0.1", 80), EACCES) << when;
    }
    void expect_nothing_enforced(const std::string& when) {
        EXPECT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5060), 0) << when;
    }
    // A mistake only root can make, which refuses the whole tree: a byport
    // directory that anyone may write.
    void break_tree() { ASSERT_EQ(chmod((sb->policy_dir() + "/byport").c_str(), 0777), 0); }
    void reboot() {
        auto r = sb->portauth({"unload"});
        ASSERT_EQ(r.status, 0) << r.err;
        expect_nothing_enforced("after unload");
    }
    std::string last_good_file() {
        for (const auto& e : std::filesystem::directory_iterator(sb->tmp() + "/state")) return e.path();
        return "";
    }

    std::unique_ptr<Sandbox> sb;
};

TEST_F(LastGood, ARefusedTreeAtBootLoadsTheLastGoodPolicyLoudly) {
    reboot();
    break_tree();
    auto r = sb->apply();
    EXPECT_EQ(r.status, 111) << "a fallback is a failure that still enforces\n" << r.out << r.err;
    EXPECT_NE(r.err.find("FALLBACK"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(sb->policy_dir() + "/byport"), std::string::npos) << "names what was refused\n" << r.err;
    expect_enforced("after the fallback");

    auto st = sb->portauth({"status"});
    EXPECT_EQ(st.status, 0) << st.out << st.err;
    EXPECT_NE(st.out.find("FALLBACK: this is the last good policy"), std::string::npos) << st.out;
    auto js = sb->portauth({"status", "--json"});
    EXPECT_NE(js.out.find("\"fallback\":true"), std::string::npos) << js.out;
    EXPECT_NE(js.out.find("\"state\":\"refused\""), std::string::npos) << js.out;

    // Another refused apply keeps the fallback and says so; a fixed tree replaces it.
    r = sb->apply();
    EXPECT_EQ(r.status, 111);
    EXPECT_NE(r.err.find("the last good policy (loaded as a fallback) stays in force"), std::string::npos) << r.err;
    ASSERT_EQ(chmod((sb->policy_dir() + "/byport").c_str(), 0755), 0);
    r = sb->apply();
    EXPECT_EQ(r.status, 0) << r.err;
    js = sb->portauth({"status", "--json"});
    EXPECT_NE(js.out.find("\"fallback\":false"), std::string::npos) << js.out;
    expect_enforced("after the fixed apply");
}

TEST_F(LastGood, NoFallbackEnforcesNothing) {
    reboot();
    break_tree();
    auto r = sb->portauth({"apply", "--cgroup", sb->cgroup(), "--no-fallback"});
    EXPECT_EQ(r.status, 111) << r.err;
    EXPECT_NE(r.err.find("nothing is enforced"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("FALLBACK"), std::string::npos) << r.err;
    expect_nothing_enforced("after apply --no-fallback");
    EXPECT_EQ(sb->portauth({"status"}).status, 1);
}

TEST_F(LastGood, ARefusedTreeWithAPolicyInForceKeepsIt) {
    sb->entry("reserve/udp/5070", 0, 0, 0400, "u:52003:x,m::x");   // not applied: the tree is refused
    break_tree();
    auto r = sb->apply();
    EXPECT_EQ(r.status, 111) << r.err;
    EXPECT_NE(r.err.find("the previous policy stays in force"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("FALLBACK"), std::string::npos) << r.err;
    expect_enforced("after the refused apply");
    EXPECT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5070), 0) << "the refused tree's new reservation is not enforced";
}

TEST_F(LastGood, AHandEditIsDriftThatStatusAndCheckName) {
    // root's hand edit, not applied: 52005 may now bind 80 according to the files.
    ASSERT_EQ(std::system(("setfacl -m u:52005:x '" + sb->policy_dir() + "/byport/80'").c_str()), 0);
    sb->entry("byport/82", 0, 0, 0400, "u:52005:x,m::x");
    auto st = sb->portauth({"status"});
    EXPECT_NE(st.out.find("the tree changed since the last apply: 1 entry added (byport/82), 1 entry changed (byport/80)"),
              std::string::npos) << st.out;
    auto js = sb->portauth({"status", "--json"});
    EXPECT_NE(js.out.find("\"state\":\"changed\""), std::string::npos) << js.out;
    EXPECT_NE(js.out.find("\"changed\":[\"byport/80\"]"), std::string::npos) << js.out;

    // check answers for the kernel by default, and says the files differ.
    auto c = sb->portauth({"check", "--user", "52005", "tcp/80"});
    EXPECT_EQ(c.status, 1) << c.out << c.err;
    EXPECT_NE(c.out.find("REFUSED"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("from:       the enforced policy"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("now says ALLOWED (byport/80)"), std::string::npos) << c.out;
    EXPECT_EQ(sb->bind(kOther, "tcp", "127.0.0.1", 80), EACCES) << "the kernel agrees with check";
    c = sb->portauth({"check", "--tree", "--user", "52005", "tcp/80"});
    EXPECT_EQ(c.status, 0) << c.out << c.err;
    EXPECT_NE(c.out.find("from:       the tree at " + sb->policy_dir()), std::string::npos) << c.out;

    // After apply the two agree again.
    ASSERT_EQ(sb->apply().status, 0);
    st = sb->portauth({"status"});
    EXPECT_EQ(st.out.find("the tree changed"), std::string::npos) << st.out;
    EXPECT_NE(st.out.find("(the tree is unchanged)"), std::string::npos) << st.out;
    c = sb->portauth({"check", "--user", "52005", "tcp/80"});
    EXPECT_EQ(c.status, 0) << c.out;
    EXPECT_EQ(c.out.find("note:"), std::string::npos) << c.out;
}

TEST_F(LastGood, ALastGoodFileThatCouldHaveBeenTamperedWithIsNotTrusted) {
    reboot();
    break_tree();
    const std::string file = last_good_file();
    ASSERT_FALSE(file.empty());
    struct stat st {};
    ASSERT_EQ(stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "root's only";
    // Someone could have written it: refused.
    ASSERT_EQ(chmod(file.c_str(), 0666), 0);
    auto r = sb->apply();
    EXPECT_EQ(r.status, 111);
    EXPECT_NE(r.err.find("writable by group or other; not trusted"), std::string::npos) << r.err;
    expect_nothing_enforced("a tampered last good policy is not loaded");
    // Edited by hand (a grant slipped in): the hash no longer matches.
    ASSERT_EQ(chmod(file.c_str(), 0600), 0);
    {
        std::ofstream out(file, std::ios::app);
        out << "port 81 byport/81 52005 52005 1 0 0 0 1 - -\n";
    }
    r = sb->apply();
    EXPECT_EQ(r.status, 111);
    EXPECT_NE(r.err.find("does not match the hash it records"), std::string::npos) << r.err;
    expect_nothing_enforced("a damaged last good policy is not loaded");
}

TEST_F(LastGood, ApplyNamesASocketThatAlreadyHoldsAPortItReserves) {
    // uid 52005 takes udp/5070 before it is reserved (outside the cgroup: no
    // hook could have stopped it).
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const pid_t squatter = fork();
    if (squatter == 0) {
        close(ready[0]);
        if (setgroups(0, nullptr) || setresgid(52005, 52005, 52005) || setresuid(52005, 52005, 52005)) _exit(1);
        const int fd = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(5070);
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) _exit(2);
        (void)!write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c = 0;
    ASSERT_EQ(read(ready[0], &c, 1), 1) << "the squatter could not bind";
    close(ready[0]);
    sb->entry("reserve/udp/5070", 0, 0, 0400, "u:52003:x,m::x");
    auto r = sb->apply();
    kill(squatter, SIGKILL);
    waitpid(squatter, nullptr, 0);
    EXPECT_EQ(r.status, 0) << "a warning, not a failure\n" << r.err;
    EXPECT_NE(r.err.find("udp/5070@0.0.0.0 is already held by 52005 (uid 52005) [pid " + std::to_string(squatter)), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("against reserve/udp/5070"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("udp/5060"), std::string::npos) << "the owner's own socket is not a squatter\n" << r.err;
}

}  // namespace
