#include "portwatch/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace portauth::watch {

namespace {

// Migration N takes a database from user_version N-1 to N.
constexpr const char* kMigrations[] = {
    // 1
    "CREATE TABLE events("
    " id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL CHECK (kind IN ('squat', 'refused')),"
    " proto TEXT NOT NULL, addr TEXT NOT NULL, port INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " user TEXT NOT NULL DEFAULT '', pids TEXT NOT NULL DEFAULT '', comm TEXT NOT NULL DEFAULT '',"
    " cmdline TEXT NOT NULL DEFAULT '', entry TEXT NOT NULL DEFAULT '', inode INTEGER NOT NULL DEFAULT 0,"
    " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " action TEXT NOT NULL DEFAULT 'log', action_result TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX events_key ON events(kind, proto, addr, port, uid, inode);",
    // 2
    "ALTER TABLE events ADD COLUMN exe TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX events_last_seen ON events(last_seen);",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

// A prepared statement; finalized by its destructor.
class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
    ~Stmt() { sqlite3_finalize(stmt_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    bool ok() const { return rc_ == SQLITE_OK && stmt_; }
    Stmt& bind(int i, int64_t v) { return sqlite3_bind_int64(stmt_, i, v), *this; }
    Stmt& bind(int i, const std::string& v) { return sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT), *this; }
    int step() { return sqlite3_step(stmt_); }
    int64_t i64(int c) { return sqlite3_column_int64(stmt_, c); }
    std::string text(int c) {
        auto* p = sqlite3_column_text(stmt_, c);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, c))) : std::string();
    }

private:
    sqlite3_stmt* stmt_ = nullptr;
    int rc_ = SQLITE_ERROR;
};

// Rolls back a transaction still open when it goes out of scope: after an
// early return, or a COMMIT that failed and left it open (SQLITE_BUSY does).
class TransactionGuard {
public:
    explicit TransactionGuard(sqlite3* db) : db_(db) {}
    ~TransactionGuard() {
        if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    TransactionGuard(const TransactionGuard&) = delete;
    TransactionGuard& operator=(const TransactionGuard&) = delete;

private:
    sqlite3* db_;
};

constexpr const char* kLeftAsItIs = "the file is damaged or not portwatch's; portwatch leaves it as it is: move it aside, or point --db elsewhere";

// Result codes that blame the system rather than the file's content.
bool system_failure(int rc) {
    switch (rc & 0xff) {
    case SQLITE_IOERR: case SQLITE_FULL: case SQLITE_READONLY: case SQLITE_CANTOPEN: case SQLITE_PERM:
    case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_PROTOCOL: case SQLITE_NOMEM:
        return true;
    default:
        return false;
    }
}

// The errno behind a system failure, and what it concerns when that is not
// the file itself. SQLite remembers the last errno it saw, but reports a
// read-only file, a directory where it cannot create the -wal and -shm (on a
// read-only mount: "unable to open database file", errno ENOENT) and often a
// full disk through its own codes alone; access(2) on the file and its
// directory tells the real reason.
std::pair<int, std::string> system_cause(const std::string& path, int rc, int sqlite_errno) {
    const int primary = rc & 0xff;
    if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN || primary == SQLITE_PERM) {
        struct stat st{};
        const bool exists = ::stat(path.c_str(), &st) == 0;
        if (exists && ::faccessat(AT_FDCWD, path.c_str(), R_OK | W_OK, AT_EACCESS) != 0) return {errno, ""};
        std::string dir = std::filesystem::path(path).parent_path().string();
        if (dir.empty()) dir = ".";
        if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) return {errno, " (directory '" + dir + "')"};
    }
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_PROTOCOL) return {EBUSY, ""};
    if (primary == SQLITE_NOMEM) return {ENOMEM, ""};
    if (sqlite_errno != 0) return {sqlite_errno, ""};
    if (primary == SQLITE_FULL) return {ENOSPC, ""};
    if (primary == SQLITE_IOERR) return {EIO, ""};
    return {EACCES, ""};
}

Error database_error(const std::string& path, const std::string& what, int rc, const std::string& sqlite_message, int sqlite_errno) {
    std::string text = "database '" + path + "': " + what;
    if (!sqlite_message.empty()) text += ": " + sqlite_message;
    if (!system_failure(rc)) return logic_error(text + "; " + kLeftAsItIs);
    auto [err, concerning] = system_cause(path, rc, sqlite_errno);
    return Error{err, text + concerning};
}

constexpr const char* kColumns =
    "id, kind, proto, addr, port, uid, user, pids, comm, exe, cmdline, entry, inode, first_seen, last_seen, action, action_result";

EventRecord read_row(Stmt& s) {
    EventRecord r;
    r.id = s.i64(0);
    r.kind = s.text(1);
    r.proto = s.text(2);
    r.addr = s.text(3);
    r.port = static_cast<uint32_t>(s.i64(4));
    r.uid = static_cast<uint32_t>(s.i64(5));
    r.user = s.text(6);
    r.pids = s.text(7);
    r.comm = s.text(8);
    r.exe = s.text(9);
    r.cmdline = s.text(10);
    r.entry = s.text(11);
    r.inode = static_cast<uint64_t>(s.i64(12));
    r.first_seen = s.i64(13);
    r.last_seen = s.i64(14);
    r.action = s.text(15);
    r.action_result = s.text(16);
    return r;
}

}  // namespace

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Error Database::db_error(const std::string& what) const {
    return database_error(path_, what, sqlite3_extended_errcode(db_.get()), sqlite3_errmsg(db_.get()), sqlite3_system_errno(db_.get()));
}

Status Database::exec(const char* sql, const char* what) {
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(what ? what : sql);
    return {};
}

Result<Database> Database::open(const std::string& path, OpenOptions options) {
    const bool write = options.access == OpenOptions::Access::write;
    sqlite3* raw = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | (write ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    if (!raw) return Error{ENOMEM, "database '" + path + "': cannot open it"};
    Database db(raw, path);
    if (rc != SQLITE_OK) return db.db_error("cannot open it");
    sqlite3_busy_timeout(raw, 5000);
    // SQLite falls back to read-only by itself when it may not write the file.
    const bool writable = sqlite3_db_readonly(raw, "main") == 0;
    if (write && !writable) return database_error(path, "not writable", SQLITE_READONLY, "", 0);
    auto version = db.schema_version();
    if (!version) return version.error();
    PA_TRY(db.check_content(*version, options.check_integrity));
    if (writable) PA_TRY(db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "cannot switch to WAL mode"));
    if (*version < kSchemaVersion && !writable)
        return database_error(path, "schema version " + std::to_string(*version) + " needs migrating, but the file cannot be written",
                              SQLITE_READONLY, "", 0);
    PA_TRY(db.migrate());
    return db;
}

Result<int> Database::schema_version() {
    Stmt s(db_.get(), "PRAGMA user_version");
    if (!s.ok() || s.step() != SQLITE_ROW) return db_error("cannot read the schema version");
    return static_cast<int>(s.i64(0));
}

// Before anything is written: the file must be a portwatch record of a schema
// this program knows, or a new, empty database.
Status Database::check_content(int version, bool check_integrity) {
    if (version > kSchemaVersion)
        return logic_error("database '" + path_ + "' has schema version " + std::to_string(version) + ", newer than this portwatch (" +
                           std::to_string(kSchemaVersion) + "); portwatch leaves it as it is: use a newer portwatch, or point --db elsewhere");
    if (version == 0) {
        Stmt s(db_.get(), "SELECT count(*) FROM sqlite_master");
        if (!s.ok() || s.step() != SQLITE_ROW) return db_error("cannot read the schema");
        if (s.i64(0) > 0)
            return logic_error("database '" + path_ + "': not a portwatch database (" + std::to_string(s.i64(0)) +
                               " tables or indexes, no portwatch schema version); " + kLeftAsItIs);
    }
    if (!check_integrity) return {};
    Stmt s(db_.get(), "PRAGMA quick_check(3)");
    if (!s.ok()) return db_error("cannot check its integrity");
    std::string problems;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
        std::string line = s.text(0);
        if (line == "ok") continue;
        std::replace(line.begin(), line.end(), '\n', ' ');
        problems += (problems.empty() ? "" : "; ") + line;
    }
    if (rc != SQLITE_DONE) return db_error("cannot check its integrity");
    if (!problems.empty()) return logic_error("database '" + path_ + "': damaged (integrity check: " + problems + "); " + kLeftAsItIs);
    return {};
}

Status Database::migrate() {
    auto version = schema_version();
    if (!version) return version.error();
    for (int v = *version; v < kSchemaVersion; ++v) {
        PA_TRY(exec("BEGIN IMMEDIATE", "cannot start migrating the schema"));
        TransactionGuard tx(db_.get());
        // Another process may have migrated while we waited for the lock.
        auto now = schema_version();
        if (!now) return now.error();
        if (*now <= v) {
            const std::string step = "cannot migrate the schema to version " + std::to_string(v + 1);
            PA_TRY(exec(kMigrations[v], step.c_str()));
            const std::string set = "PRAGMA user_version=" + std::to_string(v + 1);
            PA_TRY(exec(set.c_str(), step.c_str()));
        }
        PA_TRY(exec("COMMIT", "cannot commit the schema migration"));
    }
    return {};
}

Result<bool> Database::record_squat(EventRecord& rec) {
    PA_TRY(exec("BEGIN IMMEDIATE", "cannot record a squat"));
    TransactionGuard tx(db_.get());
    Stmt find(db_.get(),
              "SELECT id, first_seen, action, action_result FROM events WHERE kind='squat' AND proto=?1 AND addr=?2 AND port=?3 AND uid=?4 AND inode=?5"
              " ORDER BY id DESC LIMIT 1");
    if (!find.ok()) return db_error("cannot look up a squat");
    find.bind(1, rec.proto).bind(2, rec.addr).bind(3, int64_t{rec.port}).bind(4, int64_t{rec.uid}).bind(5, static_cast<int64_t>(rec.inode));
    int rc = find.step();
    bool is_new = rc != SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error("cannot look up a squat");
    if (!is_new) {
        rec.id = find.i64(0);
        rec.first_seen = find.i64(1);
        rec.action = find.text(2);
        rec.action_result = find.text(3);
        Stmt up(db_.get(), "UPDATE events SET last_seen=?1, pids=?2, comm=?3, exe=?4, cmdline=?5, user=?6, entry=?7 WHERE id=?8");
        if (!up.ok()) return db_error("cannot update a squat");
        up.bind(1, rec.last_seen).bind(2, rec.pids).bind(3, rec.comm).bind(4, rec.exe).bind(5, rec.cmdline).bind(6, rec.user).bind(7, rec.entry).bind(8, rec.id);
        if (up.step() != SQLITE_DONE) return db_error("cannot update a squat");
    } else {
        rec.kind = "squat";
        PA_TRY(record_refused(rec));   // the same insert
    }
    PA_TRY(exec("COMMIT", "cannot record a squat"));
    return is_new;
}

Status Database::record_refused(EventRecord& rec) {
    Stmt ins(db_.get(),
             "INSERT INTO events(kind, proto, addr, port, uid, user, pids, comm, exe, cmdline, entry, inode, first_seen, last_seen, action, action_result)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (!ins.ok()) return db_error("cannot record an event");
    ins.bind(1, rec.kind).bind(2, rec.proto).bind(3, rec.addr).bind(4, int64_t{rec.port}).bind(5, int64_t{rec.uid});
    ins.bind(6, rec.user).bind(7, rec.pids).bind(8, rec.comm).bind(9, rec.exe).bind(10, rec.cmdline).bind(11, rec.entry);
    ins.bind(12, static_cast<int64_t>(rec.inode)).bind(13, rec.first_seen).bind(14, rec.last_seen).bind(15, rec.action).bind(16, rec.action_result);
    if (ins.step() != SQLITE_DONE) return db_error("cannot record an event");
    rec.id = sqlite3_last_insert_rowid(db_.get());
    return {};
}

Status Database::set_action(int64_t id, const std::string& action, const std::string& result) {
    Stmt up(db_.get(), "UPDATE events SET action=?1, action_result=?2 WHERE id=?3");
    if (!up.ok()) return db_error("cannot record an action");
    up.bind(1, action).bind(2, result).bind(3, id);
    if (up.step() != SQLITE_DONE) return db_error("cannot record an action");
    return {};
}

Result<std::vector<EventRecord>> Database::query(const EventQuery& q) {
    std::string sql = std::string("SELECT ") + kColumns + " FROM events WHERE last_seen >= ?1 AND first_seen <= ?2";
    if (q.kind) sql += " AND kind = ?3";
    sql += " ORDER BY first_seen, id";
    Stmt s(db_.get(), sql.c_str());
    if (!s.ok()) return db_error("cannot query events");
    s.bind(1, q.since.value_or(INT64_MIN)).bind(2, q.until.value_or(INT64_MAX));
    if (q.kind) s.bind(3, *q.kind);
    std::vector<EventRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
        if (out.size() >= kMaxReportRows)
            return logic_error("more than " + std::to_string(kMaxReportRows) + " events match; narrow with --since/--until");
        out.push_back(read_row(s));
    }
    if (rc != SQLITE_DONE) return db_error("cannot query events");
    return out;
}

Result<int64_t> Database::count(const std::string& kind, int64_t since) {
    Stmt s(db_.get(), "SELECT count(*) FROM events WHERE kind=?1 AND last_seen >= ?2");
    if (!s.ok()) return db_error("cannot count events");
    s.bind(1, kind).bind(2, since);
    if (s.step() != SQLITE_ROW) return db_error("cannot count events");
    return s.i64(0);
}

Result<int64_t> Database::prune(int64_t before) {
    Stmt s(db_.get(), "DELETE FROM events WHERE last_seen < ?1");
    if (!s.ok()) return db_error("cannot prune events");
    s.bind(1, before);
    if (s.step() != SQLITE_DONE) return db_error("cannot prune events");
    return static_cast<int64_t>(sqlite3_changes(db_.get()));
}

}  // namespace portauth::watch
