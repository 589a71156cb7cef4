// apply, a refusal, a fallback, a disabled entry and unload reach the journal
// as structured entries (docs/journal.md) a log pipeline can filter by event,
// entry and policy dir; under systemd (stderr is the journal stream) each is
// said once, not twice. The "journal" is a datagram socket the test binds at
// the Sandbox's $PORTAUTH_JOURNAL_SOCKET, read with the native protocol's
// rules (FIELD=value, or FIELD\n + 64-bit length + bytes for a value with a
// newline). Root only, in a private network namespace.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fake_journal.hpp"
#include "sandbox.hpp"

namespace {

using fake_journal::Entry;
using fake_journal::FakeJournal;
using fake_journal::field;
using fake_journal::of_event;

class Journal : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF)";
        sb = std::make_unique<sandbox::Sandbox>();
        journal = std::make_unique<FakeJournal>(sb->journal_socket());
        sb->entry("reserve/udp/5060", 0, 0, 0400, "u:52021:x,m::x");
    }
    void TearDown() override {
        journal.reset();
        sb.reset();
    }
    std::unique_ptr<sandbox::Sandbox> sb;
    std::unique_ptr<FakeJournal> journal;
};

TEST_F(Journal, ApplyADisabledEntryAFallbackAndUnloadAreStructuredEntries) {
    // An entry its owner can change: disabled alone, and said so as its own entry.
    sb->entry("reserve/udp/5070", 52022, 52022, 0570);
    auto r = sb->apply();
    ASSERT_EQ(r.status, 2) << r.err;
    auto got = journal->take();
    auto applied = of_event(got, "applied");
    ASSERT_EQ(applied.size(), 1u) << got.size() << " entries";
    EXPECT_EQ(field(applied[0], "PRIORITY"), "6");
    EXPECT_EQ(field(applied[0], "SYSLOG_IDENTIFIER"), "portauth");
    EXPECT_EQ(field(applied[0], "MESSAGE_ID"), "ba406f100c794b0ba475f262090788e3");
    EXPECT_EQ(field(applied[0], "PORTAUTH_POLICY_DIR"), sb->policy_dir());
    EXPECT_EQ(field(applied[0], "PORTAUTH_PIN_DIR"), sb->pin_dir());
    EXPECT_EQ(field(applied[0], "PORTAUTH_CGROUP"), sb->cgroup());
    EXPECT_EQ(field(applied[0], "PORTAUTH_FALLBACK"), "0");
    EXPECT_EQ(field(applied[0], "PORTAUTH_TREE_HASH").size(), 64u);
    EXPECT_NE(field(applied[0], "MESSAGE").find("applied "), std::string::npos) << field(applied[0], "MESSAGE");
    auto disabled = of_event(got, "entry-disabled");
    ASSERT_EQ(disabled.size(), 1u);
    EXPECT_EQ(field(disabled[0], "PRIORITY"), "4");
    EXPECT_EQ(field(disabled[0], "PORTAUTH_ENTRY"), "reserve/udp/5070");
    EXPECT_NE(field(disabled[0], "PORTAUTH_REASON").find("52022"), std::string::npos) << field(disabled[0], "PORTAUTH_REASON");
    EXPECT_NE(r.err.find("reserve/udp/5070"), std::string::npos) << "not under systemd: stderr says it too\n" << r.err;

    // A boot with a refused tree.
    ASSERT_EQ(sb->portauth({"unload"}).status, 0);
    auto unloaded = of_event(journal->take(), "unloaded");
    ASSERT_EQ(unloaded.size(), 1u);
    EXPECT_EQ(field(unloaded[0], "PRIORITY"), "5");
    ASSERT_EQ(::chmod((sb->policy_dir() + "/reserve").c_str(), 0777), 0);
    r = sb->apply();
    ASSERT_EQ(r.status, 111) << r.err;
    got = journal->take();
    auto refused = of_event(got, "refused");
    ASSERT_GE(refused.size(), 1u);
    EXPECT_EQ(field(refused[0], "PRIORITY"), "3");
    EXPECT_NE(field(refused[0], "PORTAUTH_REASON").find(sb->policy_dir() + "/reserve"), std::string::npos) << field(refused[0], "PORTAUTH_REASON");
    auto fallback = of_event(got, "fallback");
    ASSERT_EQ(fallback.size(), 1u);
    EXPECT_EQ(field(fallback[0], "PRIORITY"), "2") << "a fallback is critical";
    EXPECT_EQ(field(fallback[0], "MESSAGE_ID"), "9bcf9f94dec7495fa8587f672c3876ad");
    EXPECT_EQ(field(fallback[0], "PORTAUTH_TREE_HASH"), field(applied[0], "PORTAUTH_TREE_HASH")) << "the last good policy is the first apply's";
    EXPECT_EQ(field(fallback[0], "MESSAGE").rfind("FALLBACK: ", 0), 0u) << field(fallback[0], "MESSAGE");
    EXPECT_NE(r.err.find("FALLBACK: the tree"), std::string::npos) << r.err;
}

TEST_F(Journal, UnderSystemdEachEventIsSaidOnceNotTwice) {
    // As systemd runs the unit: $JOURNAL_STREAM names the device and inode of stderr and stdout.
    const std::string script = "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec " PORTAUTH_BIN " apply --policy-dir " +
                               sb->policy_dir() + " --pin-dir " + sb->pin_dir() + " --cgroup " + sb->cgroup() + " 2>&1";
    auto r = sandbox::run({"/bin/sh", "-c", script});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    auto applied = of_event(journal->take(), "applied");
    ASSERT_EQ(applied.size(), 1u);
    EXPECT_EQ(r.out.find("applied "), std::string::npos) << "the journal has it; the stream does not repeat it\n" << r.out;
    // With no journal listening, the stream says everything.
    journal.reset();
    r = sandbox::run({"/bin/sh", "-c", script});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("replaced the policy with"), std::string::npos) << r.out;
}

// Issue 14: edits are events too, so a fleet's log pipeline can say who
// granted or reserved what, also when the edit does not apply (--no-apply, as
// the Ansible role edits). Filterable by port, entry and principal.
TEST_F(Journal, EditsAreStructuredEntriesFilterableByPortAndPrincipal) {
    auto r = sb->portauth({"allow", "--no-apply", "80", "52031"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "portauth: granted 80: uid 52031\n") << "not under systemd: stdout says it as before";
    r = sb->portreserve({"add", "--no-apply", "tcp/6000-6010", "%52032"});
    ASSERT_EQ(r.status, 0) << r.err;
    r = sb->portreserve({"release", "--no-apply", "udp/5060", "52021"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto edited = of_event(journal->take(), "edited");
    ASSERT_EQ(edited.size(), 3u);
    EXPECT_EQ(field(edited[0], "MESSAGE_ID"), "ee2d028cdf784b839938d08b89a40375");
    EXPECT_EQ(field(edited[0], "PRIORITY"), "5");
    EXPECT_EQ(field(edited[0], "SYSLOG_IDENTIFIER"), "portauth");
    EXPECT_EQ(field(edited[0], "MESSAGE"), "portauth: granted 80: uid 52031");
    EXPECT_EQ(field(edited[0], "PORTAUTH_EDIT"), "granted");
    EXPECT_EQ(field(edited[0], "PORTAUTH_ENTRY"), "byport/80");
    EXPECT_EQ(field(edited[0], "PORTAUTH_PROTO"), "any");
    EXPECT_EQ(field(edited[0], "PORTAUTH_PORT"), "80");
    EXPECT_EQ(field(edited[0], "PORTAUTH_UID"), "52031");
    EXPECT_EQ(field(edited[0], "PORTAUTH_PRINCIPALS"), "uid:52031");
    EXPECT_EQ(field(edited[0], "PORTAUTH_APPLY"), "0");
    EXPECT_EQ(field(edited[0], "PORTAUTH_POLICY_DIR"), sb->policy_dir());
    EXPECT_EQ(field(edited[1], "SYSLOG_IDENTIFIER"), "portreserve");
    EXPECT_EQ(field(edited[1], "PORTAUTH_EDIT"), "reserved");
    EXPECT_EQ(field(edited[1], "PORTAUTH_ENTRY"), "reserve/tcp/6000-6010");
    EXPECT_EQ(field(edited[1], "PORTAUTH_PROTO"), "tcp");
    EXPECT_EQ(field(edited[1], "PORTAUTH_PORT"), "6000-6010");
    EXPECT_EQ(field(edited[1], "PORTAUTH_GID"), "52032");
    EXPECT_EQ(field(edited[1], "PORTAUTH_PRINCIPALS"), "gid:52032");
    EXPECT_EQ(field(edited[2], "PORTAUTH_EDIT"), "released");
    EXPECT_EQ(field(edited[2], "PORTAUTH_ENTRY"), "reserve/udp/5060");
    // A refused edit changes nothing and is no "edited" event.
    r = sb->portauth({"allow", "--no-apply", "80x", "52031"});
    EXPECT_NE(r.status, 0);
    EXPECT_TRUE(of_event(journal->take(), "edited").empty());
}

}  // namespace
