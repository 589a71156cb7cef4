// The record under attack: schema 3 (aggregated refusals, the daemon's
// counters), a v2 database migrated with its rows, crafted and huge rows read
// back bounded and without an abort, the files' modes whatever the umask.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "common/escape.hpp"
#include "portwatch/report.hpp"
#include "portwatch/store.hpp"
#include "temp_dir.hpp"

using namespace portauth;
using namespace portauth::watch;

namespace {

// SQL run on a database by someone else than Database: an older portwatch, an attacker.
void raw_sql(const std::string& path, const std::string& sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
    sqlite3_close(raw);
}

int64_t raw_int(const std::string& path, const std::string& sql) {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
    int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(raw);
    return v;
}

// Schema version 2, as portwatch 2 wrote it.
constexpr const char* kVersion2 =
    "CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('squat', 'refused')),"
    " proto TEXT NOT NULL, addr TEXT NOT NULL, port INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " user TEXT NOT NULL DEFAULT '', pids TEXT NOT NULL DEFAULT '', comm TEXT NOT NULL DEFAULT '',"
    " cmdline TEXT NOT NULL DEFAULT '', entry TEXT NOT NULL DEFAULT '', inode INTEGER NOT NULL DEFAULT 0,"
    " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " action TEXT NOT NULL DEFAULT 'log', action_result TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX events_key ON events(kind, proto, addr, port, uid, inode);"
    "ALTER TABLE events ADD COLUMN exe TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX events_last_seen ON events(last_seen);"
    "PRAGMA user_version=2;";

EventRecord refusal(const std::string& kind, int64_t at, uint64_t count = 1, const std::string& comm = "flood") {
    EventRecord r;
    r.kind = kind;
    r.proto = "udp";
    r.addr = "0.0.0.0";
    r.port = 5060;
    r.uid = 51001;
    r.user = "51001";
    r.pids = "4242";
    r.comm = comm;
    r.entry = "reserve/udp/5060";
    r.first_seen = at;
    r.last_seen = at;
    r.count = count;
    return r;
}

const EventRecord* by_id(const std::vector<EventRecord>& rows, int64_t id) {
    for (const auto& r : rows)
        if (r.id == id) return &r;
    return nullptr;
}

TEST(PortwatchStoreV3, MigratesVersion2AndKeepsItsRows) {
    TempDir t;
    const std::string db_path = t.path + "/v2.db";
    raw_sql(db_path, std::string(kVersion2) +
                         "INSERT INTO events(kind, proto, addr, port, uid, user, pids, comm, cmdline, entry, inode, first_seen, last_seen,"
                         " action, action_result, exe) VALUES"
                         " ('squat', 'tcp', '127.0.0.1', 6000, 51001, 'mallory', '77', 'nc', 'nc -l 6000', 'reserve/tcp/6000', 99,"
                         "  1000, 2000, 'kill', 'terminated pid 77; the port is free', '/usr/bin/nc'),"
                         " ('refused', 'udp', '0.0.0.0', 5060, 51002, 'eve', '78', 'bind', '', 'reserve/udp/5060', 0, 3000, 3000, 'log', '', '');");
    auto db = Database::open(db_path);
    ASSERT_TRUE(db) << db.error().message();
    EXPECT_EQ(*db->schema_version(), 3);
    auto rows = db->query({});
    ASSERT_TRUE(rows) << rows.error().message();
    ASSERT_EQ(rows->size(), 2u);
    const EventRecord& squat = (*rows)[0];
    EXPECT_EQ(squat.id, 1);
    EXPECT_EQ(squat.kind, "squat");
    EXPECT_EQ(squat.comm, "nc");
    EXPECT_EQ(squat.exe, "/usr/bin/nc");
    EXPECT_EQ(squat.cmdline, "nc -l 6000");
    EXPECT_EQ(squat.inode, 99u);
    EXPECT_EQ(squat.first_seen, 1000);
    EXPECT_EQ(squat.last_seen, 2000);
    EXPECT_EQ(squat.action_result, "terminated pid 77; the port is free");
    EXPECT_EQ(squat.count, 1u) << "an old row stands for one event";
    EXPECT_EQ((*rows)[1].kind, "refused");
    EXPECT_EQ((*rows)[1].user, "eve");
    // The widened CHECK: a grant miss can be recorded now; nonsense still cannot.
    std::vector<EventRecord> batch = {refusal("grant_miss", 5000)};
    ASSERT_TRUE(db->record_refusals(batch)) << "grant_miss is a kind of schema 3";
    EventRecord bogus = refusal("bogus", 5000);
    EXPECT_FALSE(db->record_refused(bogus)) << "the kind CHECK survived the rebuild";
    // The old indexes are back and the aggregation key has one.
    EXPECT_EQ(raw_int(db_path, "SELECT count(*) FROM sqlite_master WHERE type='index' AND name IN"
                               " ('events_key', 'events_last_seen', 'events_refusal_key')"),
              3);
    // And a second open finds nothing left to do.
    auto again = Database::open(db_path);
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(again->query({})->size(), 3u);
}

TEST(PortwatchStoreV3, RefusalsMergeWithinAWindowAndSplitAcrossWindows) {
    TempDir t;
    auto db = Database::open(t.path + "/r.db");
    ASSERT_TRUE(db) << db.error().message();
    const int64_t w = 29'000'000 * kRefusalWindowMs;   // a window's start, in 2025
    std::vector<EventRecord> batch = {
        refusal("refused", w + 1'000, 500),
        refusal("refused", w + 30'000, 1200),          // the same key, the same window
        refusal("refused", w + kRefusalWindowMs + 5, 7),   // the next window
        refusal("refused", w + 2'000, 3, "other"),     // another comm: another key
        refusal("grant_miss", w + 2'000, 4),           // another kind: another key
    };
    ASSERT_TRUE(db->record_refusals(batch));
    for (const auto& r : batch) EXPECT_GT(r.id, 0);
    EXPECT_EQ(batch[0].id, batch[1].id);
    EXPECT_NE(batch[0].id, batch[2].id);
    EXPECT_NE(batch[0].id, batch[3].id);
    EXPECT_NE(batch[0].id, batch[4].id);
    // A later batch joins the rows already written.
    std::vector<EventRecord> later = {refusal("refused", w + 59'999, 10)};
    ASSERT_TRUE(db->record_refusals(later));
    EXPECT_EQ(later[0].id, batch[0].id);

    auto rows = db->query({});
    ASSERT_TRUE(rows);
    EXPECT_EQ(rows->size(), 4u);
    const EventRecord* merged = by_id(*rows, batch[0].id);
    ASSERT_TRUE(merged);
    EXPECT_EQ(merged->count, 1710u);
    EXPECT_EQ(merged->first_seen, w + 1'000);
    EXPECT_EQ(merged->last_seen, w + 59'999);
    EXPECT_EQ(by_id(*rows, batch[2].id)->count, 7u);
    // count() sums the refusals, not the rows.
    EXPECT_EQ(*db->count("refused", 0), 1720);
    EXPECT_EQ(*db->count("grant_miss", 0), 4);
    EXPECT_EQ(*db->count("refused", w + kRefusalWindowMs), 7) << "by last_seen";
    // A squat is not a refusal.
    std::vector<EventRecord> wrong = {refusal("squat", w)};
    EXPECT_FALSE(db->record_refusals(wrong));
}

TEST(PortwatchStoreV3, ABatchIsOneTransaction) {
    TempDir t;
    auto db = Database::open(t.path + "/tx.db");
    ASSERT_TRUE(db);
    std::vector<EventRecord> batch;
    for (int i = 0; i < 5; ++i) batch.push_back(refusal("refused", i * kRefusalWindowMs));
    batch.push_back(refusal("squat", 0));   // fails last: nothing of the batch stays
    EXPECT_FALSE(db->record_refusals(batch));
    EXPECT_EQ(db->query({})->size(), 0u);
    batch.pop_back();
    ASSERT_TRUE(db->record_refusals(batch));
    EXPECT_EQ(db->query({})->size(), 5u);
}

TEST(PortwatchStoreV3, CountersRoundTripAndRememberTheLastDrop) {
    TempDir t;
    auto db = Database::open(t.path + "/s.db");
    ASSERT_TRUE(db);
    auto none = db->load_stats();
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value()) << "no run saved counters yet: unknown, not zero";
    WatchStats s;
    s.updated_at = 1000;
    s.delivered = 10;
    s.suppressed = 20;
    s.refusals_seen = 30;
    s.rows_written = 2;
    s.enforcement_active = true;
    ASSERT_TRUE(db->save_stats(s));
    auto got = db->load_stats();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->updated_at, 1000);
    EXPECT_EQ((*got)->delivered, 10u);
    EXPECT_EQ((*got)->suppressed, 20u);
    EXPECT_EQ((*got)->dropped, 0u);
    EXPECT_EQ((*got)->refusals_seen, 30u);
    EXPECT_EQ((*got)->rows_written, 2u);
    EXPECT_TRUE((*got)->enforcement_active);
    EXPECT_EQ((*got)->last_drop_at, 0) << "nothing was dropped";
    s.updated_at = 2000;
    s.dropped = 5;
    ASSERT_TRUE(db->save_stats(s));
    EXPECT_EQ((*db->load_stats())->last_drop_at, 2000);
    s.updated_at = 3000;   // no new drop
    ASSERT_TRUE(db->save_stats(s));
    EXPECT_EQ((*db->load_stats())->last_drop_at, 2000);
    EXPECT_EQ((*db->load_stats())->updated_at, 3000);
    s.updated_at = 4000;
    s.dropped = 2;   // the program was loaded anew, and dropped again
    ASSERT_TRUE(db->save_stats(s));
    EXPECT_EQ((*db->load_stats())->last_drop_at, 4000);
    s.updated_at = 5000;
    s.dropped = UINT64_MAX;   // stored clamped, never wrapped negative
    ASSERT_TRUE(db->save_stats(s));
    EXPECT_EQ((*db->load_stats())->dropped, static_cast<uint64_t>(INT64_MAX));
    EXPECT_EQ(raw_int(t.path + "/s.db", "SELECT count(*) FROM watch_stats"), 1);
}

TEST(PortwatchStoreV3, UntrustedTextIsCappedOnWrite) {
    TempDir t;
    const std::string path = t.path + "/cap.db";
    auto db = Database::open(path);
    ASSERT_TRUE(db);
    EventRecord r = refusal("squat", 1000);
    r.inode = 5;
    // A multi-byte character straddling the cap is not cut in half.
    r.comm = std::string(kMaxUntrustedBytes - 1, 'c') + "\xc3\xa9" + "tail";
    r.exe = std::string(100'000, 'e');
    r.cmdline = std::string(100'000, 'a');
    r.user = std::string(100'000, 'u');
    r.entry = std::string(100'000, 'n');
    ASSERT_TRUE(db->record_squat(r));
    ASSERT_TRUE(db->set_action(r.id, "kill", std::string(100'000, 'r')));
    for (const char* column : {"exe", "cmdline", "user", "entry", "action_result"})
        EXPECT_EQ(raw_int(path, std::string("SELECT length(CAST(") + column + " AS BLOB)) FROM events"),
                  static_cast<int64_t>(kMaxUntrustedBytes))
            << column;
    EXPECT_EQ(raw_int(path, "SELECT length(CAST(comm AS BLOB)) FROM events"), static_cast<int64_t>(kMaxUntrustedBytes - 1));
    auto rows = db->query({});
    ASSERT_TRUE(rows);
    EXPECT_TRUE(valid_utf8((*rows)[0].comm));
    // A scan that sees it again updates it capped as well.
    r.cmdline = std::string(200'000, 'b');
    ASSERT_TRUE(db->record_squat(r));
    EXPECT_EQ(raw_int(path, "SELECT length(cmdline) FROM events"), static_cast<int64_t>(kMaxUntrustedBytes));
}

// A database an attacker wrote (or a disk that lied): numbers that are not
// numbers, NULLs, huge strings. Never an abort; the rest is read.
TEST(PortwatchStoreV3, CraftedRowsAreLeftOutAndNamedNeverAnAbort) {
    TempDir t;
    const std::string path = t.path + "/crafted.db";
    // Schema 3 with the constraints taken off, the way an attacker may write it.
    raw_sql(path,
            "CREATE TABLE events(id INTEGER PRIMARY KEY, kind, proto, addr, port, uid, user, pids, comm, cmdline, entry, inode,"
            " first_seen, last_seen, action, action_result, exe, count, identity);"
            "CREATE TABLE watch_stats(id INTEGER PRIMARY KEY, updated_at, delivered, suppressed, dropped, refusals_seen,"
            " rows_written, enforcement_active, last_drop_at);"
            "INSERT INTO watch_stats VALUES (1, 'noon', -4, 'x', NULL, 1e30, 2, 'yes', -1);"
            "PRAGMA user_version=3;"
            "INSERT INTO events VALUES (1, 'squat', 'udp', '0.0.0.0', 5060, 51001, 'u', 'abc', 'ok', '', 'e', 0, 10, 20, 'log', '', '', 1, '');"
            "INSERT INTO events VALUES (2, 'refused', 'udp', '0.0.0.0', -5, 51001, 'u', '1', 'c', '', 'e', 0, 10, 20, 'log', '', '', 1, '');"
            "INSERT INTO events VALUES (3, 'refused', 'udp', '0.0.0.0', 1e30, 51001, 'u', '1', 'c', '', 'e', 0, 10, 20, 'log', '', '', 1, '');"
            "INSERT INTO events VALUES (4, 'refused', 'udp', '0.0.0.0', 'eighty', 'root', 'u', '1', 'c', '', 'e', 0, 10, 20, 'log', '', '', 1, '');"
            "INSERT INTO events VALUES (5, 'refused', NULL, NULL, 80, 51001, NULL, NULL, NULL, NULL, NULL, NULL, 10, 20, NULL, NULL, NULL, NULL, NULL);"
            "INSERT INTO events VALUES (6, 'refused', 'udp', '0.0.0.0', 80, 51001, 'u', '1', x'ff1b5b324a0a', '', 'e', 0, 10, 20, 'log', '', '', 0, '');"
            "INSERT INTO events VALUES (7, 'refused', 'udp', '0.0.0.0', 80, 51001, 'u', '1', 'c', '', 'e', 0, 10, 20, 'log', '', '', 3, x'c0af');");
    auto db = Database::open(path, {OpenOptions::Access::read});
    ASSERT_TRUE(db) << db.error().message();
    std::vector<std::string> unreadable;
    auto rows = db->query({}, &unreadable);
    ASSERT_TRUE(rows) << rows.error().message();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0].id, 1);
    EXPECT_EQ((*rows)[0].pids, "abc") << "text is read as text; report shows pid null";
    EXPECT_EQ((*rows)[1].id, 7);
    ASSERT_EQ(unreadable.size(), 5u);
    EXPECT_NE(unreadable[0].find("row 2 left out: port is '-5'"), std::string::npos) << unreadable[0];
    EXPECT_NE(unreadable[1].find("row 3 left out: port is '1.0e+30'"), std::string::npos) << unreadable[1];
    EXPECT_NE(unreadable[2].find("port is 'eighty'"), std::string::npos) << unreadable[2];
    EXPECT_NE(unreadable[2].find("uid is 'root'"), std::string::npos) << unreadable[2];
    EXPECT_NE(unreadable[3].find("inode is NULL"), std::string::npos) << unreadable[3];
    EXPECT_NE(unreadable[4].find("count is '0'"), std::string::npos) << unreadable[4];
    for (const auto& line : unreadable) EXPECT_TRUE(valid_utf8(line) && line.find('\x1b') == std::string::npos) << line;
    // Every output form of what was read is valid and never aborts.
    const std::string json = format_events(*rows, ReportFormat::json);
    EXPECT_TRUE(valid_utf8(json)) << json;
    EXPECT_NE(json.find("\"pid\":null"), std::string::npos) << json;
    EXPECT_NE(json.find("\"identity\":\"\\\\xc0\\\\xaf\""), std::string::npos) << json;
    // The counters: what is not a positive integer reads as 0.
    auto stats = db->load_stats();
    ASSERT_TRUE(stats && stats->has_value()) << (stats ? "" : stats.error().message());
    EXPECT_EQ((*stats)->updated_at, 0);
    EXPECT_EQ((*stats)->delivered, 0u);
    EXPECT_EQ((*stats)->dropped, 0u);
    EXPECT_EQ((*stats)->rows_written, 2u);
    EXPECT_EQ((*stats)->last_drop_at, 0);
    // count() counts a crafted count as one event.
    auto n = db->count("refused", 0);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, 1 + 1 + 1 + 1 + 1 + 3);
}

TEST(PortwatchStoreV3, HugeValuesAreReadCapped) {
    TempDir t;
    const std::string path = t.path + "/huge.db";
    {
        auto db = Database::open(path);
        ASSERT_TRUE(db);
    }
    // 20 MB of comm: one lead byte then continuation bytes, which SQLite's
    // character-counting substr() would take for a single character.
    raw_sql(path,
            "INSERT INTO events(kind, proto, addr, port, uid, comm, cmdline, first_seen, last_seen)"
            " VALUES ('squat', 'udp', '0.0.0.0', 5060, 51001,"
            " CAST(x'c3' AS TEXT) || replace(hex(zeroblob(10000000)), '00', CAST(x'80' AS TEXT)), hex(zeroblob(10000000)), 1, 2);");
    ASSERT_GT(raw_int(path, "SELECT length(CAST(comm AS BLOB)) FROM events"), 10'000'000);
    auto db = Database::open(path, {OpenOptions::Access::read});
    ASSERT_TRUE(db);
    auto rows = db->query({});
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].comm.size(), kMaxUntrustedBytes + 1) << "read one byte past the cap, so the cut shows";
    EXPECT_EQ((*rows)[0].cmdline.size(), kMaxUntrustedBytes + 1);
    const std::string table = format_events(*rows, ReportFormat::table);
    EXPECT_LT(table.size(), 4 * kMaxUntrustedBytes + 1000);
    EXPECT_NE(table.find("..."), std::string::npos) << "the cut is marked";
}

TEST(PortwatchStoreV3, FilesAreNeverWorldReadableWhateverTheUmask) {
    TempDir t;
    const std::string path = t.path + "/mode.db";
    const mode_t old = ::umask(0);
    {
        auto db = Database::open(path);
        ASSERT_TRUE(db) << db.error().message();
        // A writer keeps it open: the -wal and -shm exist; SQLite made them.
        std::vector<EventRecord> batch = {refusal("refused", 1000)};
        ASSERT_TRUE(db->record_refusals(batch));
        for (const char* suffix : {"", "-wal", "-shm"}) {
            struct stat st{};
            ASSERT_EQ(::stat((path + suffix).c_str(), &st), 0) << suffix;
            EXPECT_EQ(st.st_mode & 07777, 0640u) << suffix;
        }
    }
    ::umask(old);
    // An existing database, world-readable and its -wal too, is brought to 0640.
    ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
    {
        sqlite3* raw = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);   // holds it open: the -wal stays
        ASSERT_EQ(sqlite3_exec(raw, "PRAGMA journal_mode=WAL; INSERT INTO watch_stats(id, updated_at) VALUES (1, 5);", nullptr, nullptr, nullptr),
                  SQLITE_OK);
        ASSERT_EQ(::chmod((path + "-wal").c_str(), 0644), 0);
        OpenOptions o;
        if (::geteuid() == 0) o.group = 51777;
        auto db = Database::open(path, o);
        ASSERT_TRUE(db) << db.error().message();
        for (const char* suffix : {"", "-wal", "-shm"}) {
            struct stat st{};
            ASSERT_EQ(::stat((path + suffix).c_str(), &st), 0) << suffix;
            EXPECT_EQ(st.st_mode & 07777, 0640u) << suffix;
            if (o.group) {
                EXPECT_EQ(st.st_uid, 0u) << suffix;
                EXPECT_EQ(st.st_gid, 51777u) << suffix;
            }
        }
        sqlite3_close(raw);
    }
    // Rights are only taken away: a file the admin made read-only stays so.
    ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
    (void)Database::open(path, {OpenOptions::Access::write});
    {
        struct stat st{};
        ASSERT_EQ(::stat(path.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0440u);
    }
    // Not through a symbolic link: the file it points to keeps its mode.
    const std::string target = t.path + "/target", link = t.path + "/link.db";
    { std::FILE* f = std::fopen(target.c_str(), "w"); ASSERT_TRUE(f); std::fclose(f); }
    ASSERT_EQ(::chmod(target.c_str(), 0604), 0);
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
    (void)Database::open(link);
    struct stat st{};
    ASSERT_EQ(::stat(target.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0604u);
}

// The newest rows are in the -wal: a reader that cannot read it must fail,
// not read the main file alone. As root, the reader is a child that drops to
// a numeric uid (root reads everything).
TEST(PortwatchStoreV3, AReaderThatCannotReadTheWalIsToldSo) {
    TempDir t;
    ASSERT_EQ(::chmod(t.path.c_str(), 0755), 0);
    const std::string path = t.path + "/wal.db";
    auto writer = Database::open(path);
    ASSERT_TRUE(writer);
    std::vector<EventRecord> batch = {refusal("refused", 1000)};
    ASSERT_TRUE(writer->record_refusals(batch));
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    ASSERT_EQ(::chmod((path + "-shm").c_str(), 0644), 0);
    ASSERT_EQ(::chmod((path + "-wal").c_str(), 0200), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(51778, 51778, 51778) != 0 ||
                                 ::setresuid(51778, 51778, 51778) != 0))
            ::_exit(10);
        auto reader = Database::open(path, {OpenOptions::Access::read});
        if (reader) ::_exit(11);
        if (reader.error().message().find("cannot read '" + path + "-wal'") == std::string::npos) ::_exit(12);
        if (reader.error().err != EACCES) ::_exit(13);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "exit " << WEXITSTATUS(status) << ": 10 cannot drop, 11 opened, 12 another message, 13 another errno";
}

}  // namespace
