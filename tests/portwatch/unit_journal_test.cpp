// portwatch's journal entries without privileges: each kind of event reaches
// a test journal ($PORTAUTH_JOURNAL_SOCKET, read with the native protocol's
// rules) with its MESSAGE_ID and PORTAUTH_* fields, hostile process names
// escaped; under systemd (stderr is the journal stream) the line is not said
// twice; a budget bounds each kind a window and says what it held back.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>

#include "fake_journal.hpp"
#include "portwatch/daemon.hpp"
#include "portwatch/journal_events.hpp"
#include "temp_dir.hpp"

using namespace portauth;
using namespace portauth::watch;
using fake_journal::Entry;
using fake_journal::FakeJournal;
using fake_journal::field;
using fake_journal::of_event;

namespace {

struct CaptureLog : WatchLog {
    std::vector<std::string> lines;
    void debug(const std::string& l) override { lines.push_back("debug: " + l); }
    void info(const std::string& l) override { lines.push_back("info: " + l); }
    void warn(const std::string& l) override { lines.push_back("warn: " + l); }
    void error(const std::string& l) override { lines.push_back("error: " + l); }
};

EventRecord hostile_record() {
    EventRecord r;
    r.kind = "squat";
    r.proto = "udp";
    r.addr = "0.0.0.0";
    r.port = 5060;
    r.uid = 51999;
    r.user = "51999";
    r.pids = "4242,4243";
    r.comm = "x\nPORTAUTH_EVENT=forged\x1b[2J";
    r.exe = "/tmp/\xff";
    r.entry = "reserve/udp/5060";
    r.inode = 777;
    r.identity = "binder";
    return r;
}

class PortwatchJournal : public ::testing::Test {
protected:
    void SetUp() override {
        journal_ = std::make_unique<FakeJournal>(dir_.path + "/socket");
        ::setenv("PORTAUTH_JOURNAL_SOCKET", (dir_.path + "/socket").c_str(), 1);
        ::unsetenv("JOURNAL_STREAM");
    }
    void TearDown() override {
        ::unsetenv("PORTAUTH_JOURNAL_SOCKET");
        ::unsetenv("JOURNAL_STREAM");
        journal_.reset();
    }
    TempDir dir_;
    std::unique_ptr<FakeJournal> journal_;
};

}  // namespace

TEST_F(PortwatchJournal, EachKindHasItsMessageIdAndFields) {
    CaptureLog lines;
    JournalLog log(lines, "portwatch");
    log.set_common_fields({{"PORTAUTH_POLICY_DIR", "/etc/portauth"}});
    PassOutcome pass;
    SquatOutcome o;
    o.record = hostile_record();
    o.is_new = true;
    o.recorded = true;
    o.record.action = "destroy";
    o.action_result = "destroyed the socket";
    o.result_changed = true;
    pass.squats.push_back(o);
    log_pass(pass, log);
    EventRecord refused = hostile_record();
    refused.kind = "grant_miss";
    log.event(refusal_event(refused, false));
    log.event(database_error_event("/var/lib/portwatch/portwatch.db", "database '/var/lib/portwatch/portwatch.db': not writable: Read-only file system",
                                   "database ...; still watching"));
    log.event(database_recovered_event("/var/lib/portwatch/portwatch.db"));
    log.event(suppressed_event(kEventBindRefused, 17, 60'000));

    const auto got = journal_->take();
    ASSERT_EQ(got.size(), 6u);
    std::set<std::string> ids;
    for (const auto& e : got) {
        EXPECT_EQ(field(e, "SYSLOG_IDENTIFIER"), "portwatch");
        EXPECT_EQ(field(e, "PORTAUTH_POLICY_DIR"), "/etc/portauth");
        EXPECT_EQ(field(e, "MESSAGE_ID").size(), 32u);
        EXPECT_EQ(field(e, "MESSAGE_ID"), watch_message_id(field(e, "PORTAUTH_EVENT")));
        ids.insert(field(e, "MESSAGE_ID"));
    }
    EXPECT_EQ(ids.size(), 6u) << "one MESSAGE_ID per kind";

    const auto squat = of_event(got, "squat");
    ASSERT_EQ(squat.size(), 1u);
    EXPECT_EQ(field(squat[0], "MESSAGE_ID"), "02a0613bcef543389a5906e1dc635c55");
    EXPECT_EQ(field(squat[0], "PRIORITY"), "4");
    EXPECT_EQ(field(squat[0], "PORTAUTH_PROTO"), "udp");
    EXPECT_EQ(field(squat[0], "PORTAUTH_PORT"), "5060");
    EXPECT_EQ(field(squat[0], "PORTAUTH_UID"), "51999");
    EXPECT_EQ(field(squat[0], "PORTAUTH_PID"), "4242");
    EXPECT_EQ(field(squat[0], "PORTAUTH_PIDS"), "4242,4243");
    EXPECT_EQ(field(squat[0], "PORTAUTH_ENTRY"), "reserve/udp/5060");
    EXPECT_EQ(field(squat[0], "PORTAUTH_IDENTITY"), "binder");
    EXPECT_EQ(field(squat[0], "PORTAUTH_RECORDED"), "1");
    EXPECT_EQ(field(squat[0], "PORTAUTH_COMM"), "x\\x0aPORTAUTH_EVENT=forged\\x1b[2J") << "escaped as in the log line";
    EXPECT_EQ(field(squat[0], "PORTAUTH_EXE"), "/tmp/\\xff");
    EXPECT_EQ(field(squat[0], "MESSAGE").rfind("squatter: udp/5060 uid 51999 (pid 4242,4243)", 0), 0u) << field(squat[0], "MESSAGE");
    EXPECT_EQ(field(squat[0], "MESSAGE").find('\n'), std::string::npos);

    const auto action = of_event(got, "action");
    ASSERT_EQ(action.size(), 1u);
    EXPECT_EQ(field(action[0], "PORTAUTH_ACTION"), "destroy");
    EXPECT_EQ(field(action[0], "PORTAUTH_ACTION_RESULT"), "destroyed the socket");

    const auto refusal = of_event(got, "bind-refused");
    ASSERT_EQ(refusal.size(), 1u);
    EXPECT_EQ(field(refusal[0], "PORTAUTH_KIND"), "grant_miss");
    EXPECT_EQ(field(refusal[0], "PORTAUTH_RECORDED"), "0");
    EXPECT_EQ(field(refusal[0], "PORTAUTH_WINDOW_SECONDS"), "60");

    const auto error = of_event(got, "database-error");
    ASSERT_EQ(error.size(), 1u);
    EXPECT_EQ(field(error[0], "PRIORITY"), "3");
    EXPECT_EQ(field(error[0], "PORTAUTH_DB"), "/var/lib/portwatch/portwatch.db");
    EXPECT_NE(field(error[0], "PORTAUTH_REASON").find("Read-only file system"), std::string::npos);
    EXPECT_EQ(field(of_event(got, "database-recovered").at(0), "PRIORITY"), "6");
    const auto suppressed = of_event(got, "suppressed");
    ASSERT_EQ(suppressed.size(), 1u);
    EXPECT_EQ(field(suppressed[0], "PORTAUTH_SUPPRESSED_EVENT"), "bind-refused");
    EXPECT_EQ(field(suppressed[0], "PORTAUTH_SUPPRESSED"), "17");

    EXPECT_EQ(lines.lines.size(), 6u) << "not under systemd: stderr says everything, as before";
}

TEST_F(PortwatchJournal, UnderSystemdTheLineIsNotSaidTwice) {
    struct stat st {};
    ASSERT_EQ(::fstat(2, &st), 0);
    ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(), 1);
    CaptureLog lines;
    {
        JournalLog log(lines, "portwatch");
        log.event(database_recovered_event("/db"));
        EXPECT_EQ(journal_->take().size(), 1u);
        EXPECT_TRUE(lines.lines.empty()) << "the journal has it, and stderr is the journal";
        log.info("plain lines stay plain");
        EXPECT_EQ(lines.lines.size(), 1u);
    }
    // No journal listening: stderr says it, also under systemd.
    journal_.reset();
    JournalLog log(lines, "portwatch");
    log.event(database_recovered_event("/db"));
    ASSERT_EQ(lines.lines.size(), 2u);
    EXPECT_EQ(lines.lines[1], "info: database '/db' can be written again: recording resumes");
}

TEST(PortwatchEventBudget, AFloodIsCutAtTheBudgetAndSaidOnce) {
    EventBudget b(100, 60'000);
    int said = 0;
    for (int i = 0; i < 100'000; ++i) said += b.allow(kEventBindRefused, 1'000 + i / 1000) ? 1 : 0;
    EXPECT_EQ(said, 100);
    EXPECT_TRUE(b.allow(kEventSquat, 1'500)) << "each kind has its own budget";
    EXPECT_TRUE(b.ended(30'000).empty()) << "the window is not over yet";
    const auto ended = b.ended(61'000);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].first, kEventBindRefused);
    EXPECT_EQ(ended[0].second, 100'000u - 100u);
    EXPECT_TRUE(b.ended(62'000).empty()) << "said once";
    EXPECT_EQ(b.suppressed_total().at(kEventBindRefused), 100'000u - 100u);
    EXPECT_TRUE(b.allow(kEventBindRefused, 61'500)) << "a new window, a new budget";
}

TEST(PortwatchEventBudget, LogPassKeepsToTheBudget) {
    CaptureLog lines;
    EventBudget b(3, 60'000);
    PassOutcome pass;
    for (int i = 0; i < 10; ++i) {
        SquatOutcome o;
        o.record = hostile_record();
        o.record.inode = static_cast<uint64_t>(1000 + i);
        o.is_new = true;
        pass.squats.push_back(o);
    }
    log_pass(pass, lines, &b);
    EXPECT_EQ(lines.lines.size(), 3u);
    EXPECT_EQ(b.suppressed_total().at(kEventSquat), 7u);
}
