#include "portwatch/store.hpp"

#include <chrono>

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
    return logic_error(what + " in '" + path_ + "': " + (db_ ? sqlite3_errmsg(db_.get()) : "no database"));
}

Status Database::exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string text = msg ? msg : "unknown error";
        sqlite3_free(msg);
        return logic_error("database '" + path_ + "': " + text);
    }
    return {};
}

Result<Database> Database::open(const std::string& path, bool create) {
    sqlite3* raw = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    Database db(raw, path);
    if (rc != SQLITE_OK) {
        if (!raw) return logic_error("cannot open the database '" + path + "': out of memory");
        return db.db_error("cannot open the database");
    }
    sqlite3_busy_timeout(raw, 5000);
    PA_TRY(db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
    PA_TRY(db.migrate());
    return db;
}

Result<int> Database::schema_version() {
    Stmt s(db_.get(), "PRAGMA user_version");
    if (!s.ok() || s.step() != SQLITE_ROW) return db_error("cannot read the schema version");
    return static_cast<int>(s.i64(0));
}

Status Database::migrate() {
    auto version = schema_version();
    if (!version) return version.error();
    if (*version > kSchemaVersion)
        return logic_error("database '" + path_ + "' has schema version " + std::to_string(*version) +
                           ", newer than this portwatch (" + std::to_string(kSchemaVersion) + ")");
    auto rollback = [&](Error e) {
        (void)exec("ROLLBACK");
        return e;
    };
    for (int v = *version; v < kSchemaVersion; ++v) {
        PA_TRY(exec("BEGIN IMMEDIATE"));
        // Another process may have migrated while we waited for the lock.
        auto now = schema_version();
        if (!now) return rollback(now.error());
        if (*now > v) {
            PA_TRY(exec("COMMIT"));
            continue;
        }
        auto step = exec(kMigrations[v]);
        if (!step) return rollback(step.error());
        const std::string set = "PRAGMA user_version=" + std::to_string(v + 1);
        auto bump = exec(set.c_str());
        if (!bump) return rollback(bump.error());
        PA_TRY(exec("COMMIT"));
    }
    return {};
}

Result<bool> Database::record_squat(EventRecord& rec) {
    PA_TRY(exec("BEGIN IMMEDIATE"));
    auto rollback = [&](Error e) {
        (void)exec("ROLLBACK");
        return e;
    };
    Stmt find(db_.get(),
              "SELECT id, first_seen, action, action_result FROM events WHERE kind='squat' AND proto=?1 AND addr=?2 AND port=?3 AND uid=?4 AND inode=?5"
              " ORDER BY id DESC LIMIT 1");
    if (!find.ok()) return rollback(db_error("cannot look up a squat"));
    find.bind(1, rec.proto).bind(2, rec.addr).bind(3, int64_t{rec.port}).bind(4, int64_t{rec.uid}).bind(5, static_cast<int64_t>(rec.inode));
    int rc = find.step();
    bool is_new = rc != SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rollback(db_error("cannot look up a squat"));
    if (!is_new) {
        rec.id = find.i64(0);
        rec.first_seen = find.i64(1);
        rec.action = find.text(2);
        rec.action_result = find.text(3);
        Stmt up(db_.get(), "UPDATE events SET last_seen=?1, pids=?2, comm=?3, exe=?4, cmdline=?5, user=?6, entry=?7 WHERE id=?8");
        if (!up.ok()) return rollback(db_error("cannot update a squat"));
        up.bind(1, rec.last_seen).bind(2, rec.pids).bind(3, rec.comm).bind(4, rec.exe).bind(5, rec.cmdline).bind(6, rec.user).bind(7, rec.entry).bind(8, rec.id);
        if (up.step() != SQLITE_DONE) return rollback(db_error("cannot update a squat"));
    } else {
        rec.kind = "squat";
        if (auto st = record_refused(rec); !st) return rollback(st.error());   // the same insert
    }
    PA_TRY(exec("COMMIT"));
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
