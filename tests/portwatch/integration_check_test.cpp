// `portwatch check` as monitoring runs it: an unprivileged uid, against a
// database that a writer holds open in WAL mode with rows not yet
// checkpointed. It reads them (as a member of the database's group), or says
// UNKNOWN with the reason - never OK from the part it could read.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "portwatch/store.hpp"
#include "sandbox.hpp"

using namespace portauth::watch;

namespace {

constexpr uint32_t kGroup = 51300;     // the --db-group
constexpr uint32_t kMonitor = 51301;   // a member of it (Nagios)
constexpr uint32_t kStranger = 51302;  // not a member

struct Output {
    int status = -1;
    std::string out;
};

// argv run as uid:gid with exactly the supplementary groups given, stdout captured.
Output run_as(uint32_t uid, uint32_t gid, const std::vector<gid_t>& groups, const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return {};
    const pid_t child = ::fork();
    if (child < 0) return {};
    if (child == 0) {
        ::dup2(fds[1], 1);
        if (::setgroups(groups.size(), groups.data()) != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0)
            ::_exit(120);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    Output o;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) o.out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    o.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return o;
}

EventRecord refusal(int64_t at, uint64_t count) {
    EventRecord r;
    r.kind = "refused";
    r.proto = "udp";
    r.addr = "0.0.0.0";
    r.port = 5060;
    r.uid = 51001;
    r.comm = "flood";
    r.entry = "reserve/udp/5060";
    r.first_seen = r.last_seen = at;
    r.count = count;
    return r;
}

class PortwatchCheckUnprivileged : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root: the test drops to numeric uids";
        char t[] = "/tmp/portwatch-check-XXXXXX";
        ASSERT_TRUE(::mkdtemp(t));
        dir_ = t;
        ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);   // like /var/lib/portwatch: root's, searchable
        policy_ = dir_ + "/policy";
        ASSERT_EQ(::mkdir(policy_.c_str(), 0755), 0);
        db_ = dir_ + "/portwatch.db";
    }
    void TearDown() override {
        writer_.reset();
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }
    // The daemon: the database open for writing, readable by kGroup, rows in the WAL.
    void start_writer(uint64_t refused) {
        OpenOptions o;
        o.group = kGroup;
        auto db = Database::open(db_, o);
        ASSERT_TRUE(db) << db.error().message();
        writer_.emplace(std::move(db).value());
        std::vector<EventRecord> batch = {refusal(now_ms() - 1000, refused)};
        ASSERT_TRUE(writer_->record_refusals(batch));
        struct stat st{};
        ASSERT_EQ(::stat((db_ + "-wal").c_str(), &st), 0);
        ASSERT_GT(st.st_size, 0) << "the rows must be in the WAL, not checkpointed";
        EXPECT_EQ(st.st_mode & 07777, 0640u);
        EXPECT_EQ(st.st_gid, kGroup);
    }
    Output check_as(uint32_t uid, uint32_t gid, std::vector<gid_t> groups) {
        return run_as(uid, gid, groups, {PORTWATCH_BIN, "check", "--policy-dir", policy_, "--db", db_});
    }
    std::string dir_, policy_, db_;
    std::optional<Database> writer_;
};

TEST_F(PortwatchCheckUnprivileged, AGroupMemberReadsTheRowsInTheWal) {
    start_writer(3);
    // Root sees them...
    auto root = check_as(0, 0, {0});
    EXPECT_EQ(root.status, 0) << root.out;
    EXPECT_NE(root.out.find(" refused_24h=3 "), std::string::npos) << root.out;
    // ... and so does the monitoring uid, through the group: the -shm is read-only to it.
    auto monitor = check_as(kMonitor, kMonitor, {kGroup});
    EXPECT_EQ(monitor.status, 0) << monitor.out;
    EXPECT_TRUE(std::regex_match(monitor.out, std::regex("PORTWATCH OK - no squatters \\| squatters=0 refused_24h=3 scan_ms=[0-9.]+\n")))
        << monitor.out;
    // report too: one row standing for 3 refusals.
    auto report = run_as(kMonitor, kMonitor, {kGroup}, {PORTWATCH_BIN, "report", "--db", db_, "--format", "json"});
    EXPECT_EQ(report.status, 0) << report.out;
    EXPECT_NE(report.out.find("\"count\":3"), std::string::npos) << report.out;
    // Another uid: not even the main file. UNKNOWN, with the reason.
    auto stranger = check_as(kStranger, kStranger, {});
    EXPECT_EQ(stranger.status, 3) << stranger.out;
    EXPECT_EQ(stranger.out.rfind("PORTWATCH UNKNOWN - database '" + db_ + "'", 0), 0u) << stranger.out;
    EXPECT_NE(stranger.out.find("Permission denied"), std::string::npos) << stranger.out;
}

TEST_F(PortwatchCheckUnprivileged, AnUnreadableWalOrShmIsUnknownNeverOk) {
    start_writer(3);
    for (const char* suffix : {"-wal", "-shm"}) {
        SCOPED_TRACE(suffix);
        const std::string file = db_ + suffix;
        ASSERT_EQ(::chmod(file.c_str(), 0600), 0);   // the main file stays group-readable
        auto monitor = check_as(kMonitor, kMonitor, {kGroup});
        EXPECT_EQ(monitor.status, 3) << monitor.out;
        EXPECT_EQ(monitor.out.rfind("PORTWATCH UNKNOWN - ", 0), 0u) << monitor.out;
        EXPECT_NE(monitor.out.find("cannot read '" + file + "'"), std::string::npos) << monitor.out;
        EXPECT_EQ(monitor.out.find("refused_24h=0"), std::string::npos) << monitor.out;
        auto report = run_as(kMonitor, kMonitor, {kGroup}, {PORTWATCH_BIN, "report", "--db", db_, "--format", "json"});
        EXPECT_EQ(report.status, 2) << "report fails too, rather than print a part: " << report.out;
        ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
    }
    auto monitor = check_as(kMonitor, kMonitor, {kGroup});
    EXPECT_EQ(monitor.status, 0) << monitor.out;
}

TEST_F(PortwatchCheckUnprivileged, DropsByTheKernelWarnAndShowInThePerfdata) {
    start_writer(2);
    const int64_t now = now_ms();
    WatchStats s;
    s.updated_at = now - 3 * 86'400'000LL;
    s.delivered = 100;
    s.dropped = 7;   // dropped three days ago
    s.enforcement_active = true;
    ASSERT_TRUE(writer_->save_stats(s));
    s.updated_at = now;   // nothing new since
    ASSERT_TRUE(writer_->save_stats(s));
    auto old_drops = check_as(kMonitor, kMonitor, {kGroup});
    EXPECT_EQ(old_drops.status, 0) << old_drops.out;
    EXPECT_TRUE(std::regex_match(old_drops.out,
                                 std::regex("PORTWATCH OK - no squatters \\| squatters=0 refused_24h=2 scan_ms=[0-9.]+ dropped=7c\n")))
        << old_drops.out;
    s.dropped = 12;   // and now again
    ASSERT_TRUE(writer_->save_stats(s));
    auto warning = check_as(kMonitor, kMonitor, {kGroup});
    EXPECT_EQ(warning.status, 1) << warning.out;
    EXPECT_EQ(warning.out.rfind("PORTWATCH WARNING - no squatters; the kernel dropped events in the last 24 h (12 in all", 0), 0u)
        << warning.out;
    EXPECT_NE(warning.out.find("| squatters=0 refused_24h=2 scan_ms="), std::string::npos) << warning.out;
    EXPECT_NE(warning.out.find(" dropped=12c\n"), std::string::npos) << warning.out;
    // report shows the counters: the table's last line, and --stats.
    auto table = run_as(kMonitor, kMonitor, {kGroup}, {PORTWATCH_BIN, "report", "--db", db_});
    EXPECT_EQ(table.status, 0);
    EXPECT_NE(table.out.find("1 row, 2 events"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("12 events dropped"), std::string::npos) << table.out;
    auto stats = run_as(kMonitor, kMonitor, {kGroup}, {PORTWATCH_BIN, "report", "--db", db_, "--stats", "--format", "json"});
    EXPECT_EQ(stats.status, 0);
    EXPECT_NE(stats.out.find("{\"rows\":1,\"count\":2,\"counters_at\":"), std::string::npos) << stats.out;
    EXPECT_NE(stats.out.find("\"dropped\":12,\"last_drop_at\":"), std::string::npos) << stats.out;
}

// Whatever a crafted database holds, report's JSON is JSON to Python, its
// table and CSV hold no control characters, and nothing aborts.
TEST_F(PortwatchCheckUnprivileged, ReportOfACraftedDatabaseIsValidJsonAndNeverAborts) {
    start_writer(1);
    writer_.reset();
    auto crafted = sandbox::run({"sqlite3", db_,
                                 "INSERT INTO events(kind, proto, addr, port, uid, user, pids, comm, exe, cmdline, entry, first_seen, last_seen,"
                                 " action_result) VALUES ('squat', 'udp', '0.0.0.0', 5060, 51001, x'ff0a', 'abc', x'1b5d303b6f776e6564073d78',"
                                 " x'c0afedaa80', x'0a706f727477617463683a206f6b', '=cmd', 1, 2, x'9b3331');"
                                 "INSERT INTO events(kind, proto, addr, port, uid, first_seen, last_seen) VALUES ('refused', 'udp', '0.0.0.0', 1e30, 1, 1, 2);"});
    ASSERT_EQ(crafted.status, 0) << crafted.err;
    auto json = sandbox::run({PORTWATCH_BIN, "report", "--db", db_, "--format", "json"});
    EXPECT_EQ(json.status, 2) << "a row was left out";
    EXPECT_NE(json.err.find("port is '1.0e+30'"), std::string::npos) << json.err;
    auto parsed = sandbox::run({"python3", "-c", "import json,sys; d=json.load(sys.stdin); print(len(d))"}, json.out);
    EXPECT_EQ(parsed.status, 0) << parsed.err << json.out;
    EXPECT_EQ(parsed.out, "2\n");
    for (const char* format : {"table", "csv"}) {
        auto out = sandbox::run({PORTWATCH_BIN, "report", "--db", db_, "--format", format});
        EXPECT_EQ(out.status, 2) << format;
        for (unsigned char c : out.out) EXPECT_TRUE(c >= 0x20 || c == '\n') << format << ": " << out.out;
        EXPECT_EQ(out.out.find("\nportwatch: ok"), std::string::npos) << out.out;
    }
    auto csv = sandbox::run({PORTWATCH_BIN, "report", "--db", db_, "--format", "csv"});
    EXPECT_NE(csv.out.find(",'=cmd,"), std::string::npos) << csv.out;
}

}  // namespace
