#include "portwatch/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>

#include "common/escape.hpp"
#include "common/fd.hpp"

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
    // 3: SQLite cannot alter a CHECK: the table is rebuilt (in the migration's
    // transaction, so a failure leaves version 2 as it was).
    "CREATE TABLE events_v3("
    " id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL CHECK (kind IN ('squat', 'refused', 'grant_miss')),"
    " proto TEXT NOT NULL, addr TEXT NOT NULL, port INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " user TEXT NOT NULL DEFAULT '', pids TEXT NOT NULL DEFAULT '', comm TEXT NOT NULL DEFAULT '',"
    " cmdline TEXT NOT NULL DEFAULT '', entry TEXT NOT NULL DEFAULT '', inode INTEGER NOT NULL DEFAULT 0,"
    " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " action TEXT NOT NULL DEFAULT 'log', action_result TEXT NOT NULL DEFAULT '',"
    " exe TEXT NOT NULL DEFAULT '', count INTEGER NOT NULL DEFAULT 1, identity TEXT NOT NULL DEFAULT '');"
    "INSERT INTO events_v3(id, kind, proto, addr, port, uid, user, pids, comm, cmdline, entry, inode, first_seen, last_seen,"
    " action, action_result, exe)"
    " SELECT id, kind, proto, addr, port, uid, user, pids, comm, cmdline, entry, inode, first_seen, last_seen,"
    " action, action_result, exe FROM events;"
    "DROP TABLE events;"
    "ALTER TABLE events_v3 RENAME TO events;"
    "CREATE INDEX events_key ON events(kind, proto, addr, port, uid, inode);"
    "CREATE INDEX events_last_seen ON events(last_seen);"
    "CREATE INDEX events_refusal_key ON events(kind, uid, proto, addr, port, entry, comm, first_seen);"
    "CREATE TABLE watch_stats("
    " id INTEGER PRIMARY KEY CHECK (id = 1), updated_at INTEGER NOT NULL,"
    " delivered INTEGER NOT NULL DEFAULT 0, suppressed INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0,"
    " refusals_seen INTEGER NOT NULL DEFAULT 0, rows_written INTEGER NOT NULL DEFAULT 0,"
    " enforcement_active INTEGER NOT NULL DEFAULT 0, last_drop_at INTEGER NOT NULL DEFAULT 0);",
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
    Stmt& bind(int i, uint64_t v) { return bind(i, static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX))); }
    Stmt& bind(int i, const std::string& v) { return sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT), *this; }
    int step() { return sqlite3_step(stmt_); }
    int64_t i64(int c) { return sqlite3_column_int64(stmt_, c); }
    int type(int c) { return sqlite3_column_type(stmt_, c); }
    void reset() { sqlite3_reset(stmt_); }
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

// Untrusted text as stored: cut at kMaxUntrustedBytes, back to the start of
// a UTF-8 character when the cut falls inside one.
std::string capped(const std::string& s) {
    if (s.size() <= kMaxUntrustedBytes) return s;
    size_t n = kMaxUntrustedBytes;
    while (n > 0 && kMaxUntrustedBytes - n < 3 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
    if ((static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) n = kMaxUntrustedBytes;   // not UTF-8 anyway
    return s.substr(0, n);
}

// Every column read back bounded, whatever a crafted database holds: text cut
// in SQL (as bytes: a text's substr counts characters, and one lead byte
// followed by continuation bytes is one character to SQLite) one byte past
// the cap, so that escape_untrusted marks the cut with "..."; a number that
// is not an integer comes back as a short text that names it.
#define PW_TEXT(c) "substr(CAST(" c " AS BLOB), 1, 4097)"
#define PW_INT(c) "CASE typeof(" c ") WHEN 'integer' THEN " c " ELSE substr(CAST(" c " AS BLOB), 1, 40) END"
static_assert(kMaxUntrustedBytes + 1 == 4097);
constexpr const char* kColumns =
    PW_INT("id") ", " PW_TEXT("kind") ", " PW_TEXT("proto") ", " PW_TEXT("addr") ", " PW_INT("port") ", " PW_INT("uid") ", "
    PW_TEXT("user") ", " PW_TEXT("pids") ", " PW_TEXT("comm") ", " PW_TEXT("exe") ", " PW_TEXT("cmdline") ", " PW_TEXT("entry") ", "
    PW_INT("inode") ", " PW_INT("first_seen") ", " PW_INT("last_seen") ", " PW_TEXT("action") ", " PW_TEXT("action_result") ", "
    PW_INT("count") ", " PW_TEXT("identity");
#undef PW_TEXT
#undef PW_INT

// The row, or why it cannot be read.
Result<EventRecord> read_row(Stmt& s) {
    std::string bad;
    auto integer = [&](int c, const char* name, int64_t min, int64_t max) -> int64_t {
        if (s.type(c) == SQLITE_INTEGER && s.i64(c) >= min && s.i64(c) <= max) return s.i64(c);
        if (!bad.empty()) bad += ", ";
        bad += std::string(name) + " is " +
               (s.type(c) == SQLITE_NULL ? std::string("NULL") : "'" + escape_untrusted(s.text(c), 40) + "'") + ", not an integer from " +
               std::to_string(min) + " to " + std::to_string(max);
        return 0;
    };
    EventRecord r;
    r.id = integer(0, "id", INT64_MIN, INT64_MAX);
    r.kind = s.text(1);
    r.proto = s.text(2);
    r.addr = s.text(3);
    r.port = static_cast<uint32_t>(integer(4, "port", 0, 65535));
    r.uid = static_cast<uint32_t>(integer(5, "uid", 0, UINT32_MAX));
    r.user = s.text(6);
    r.pids = s.text(7);
    r.comm = s.text(8);
    r.exe = s.text(9);
    r.cmdline = s.text(10);
    r.entry = s.text(11);
    r.inode = static_cast<uint64_t>(integer(12, "inode", 0, INT64_MAX));
    r.first_seen = integer(13, "first_seen", INT64_MIN, INT64_MAX);
    r.last_seen = integer(14, "last_seen", INT64_MIN, INT64_MAX);
    r.action = s.text(15);
    r.action_result = s.text(16);
    r.count = static_cast<uint64_t>(integer(17, "count", 1, INT64_MAX));
    r.identity = s.text(18);
    if (!bad.empty()) {
        const std::string which = s.type(0) == SQLITE_INTEGER ? "row " + std::to_string(s.i64(0)) : std::string("a row");
        return logic_error(which + " left out: " + bad);
    }
    return r;
}

// Mode 0640, owned by root (when we are root) and `group` (root's when none):
// what every file of the database should be. An existing file loses what is
// more than that (world access, group write) and never gains more than read
// for the named group. Through an fd of our own, never
// through a symbolic link, and never on a file with other names (a hard link
// someone planted): those are left as they are.
Status restrict_file(const std::string& path, std::optional<uint32_t> group, bool create) {
    int fd = create ? ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640) : -1;
    const bool created = fd >= 0;
    if (fd < 0) {
        if (create && errno != EEXIST) return {};   // SQLite says why it cannot open it
        fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return {};                    // missing, a symbolic link, ...: left to SQLite
    }
    Fd owned(fd);
    struct stat st{};
    if (::fstat(owned.get(), &st) != 0) return sys_error("database '" + path + "': cannot stat it");
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) return {};
    const bool root = ::geteuid() == 0;
    const uid_t uid = root ? 0 : static_cast<uid_t>(-1);
    const gid_t gid = group ? static_cast<gid_t>(*group) : root ? 0 : static_cast<gid_t>(-1);
    if ((uid != static_cast<uid_t>(-1) && st.st_uid != uid) || (gid != static_cast<gid_t>(-1) && st.st_gid != gid))
        if (::fchown(owned.get(), uid, gid) != 0)
            return sys_error("database '" + path + "': cannot give it to " + (root ? "root and " : std::string()) + "group " +
                             std::to_string(gid));
    // Rights are only taken away (a file the admin made read-only stays so),
    // except read for the group the admin named.
    const mode_t mode = created ? 0640 : (st.st_mode & 0600) | (group ? 0040 : st.st_mode & 0040);
    if ((st.st_mode & 07777) != mode && ::fchmod(owned.get(), mode) != 0)
        return sys_error("database '" + path + "': cannot set its mode to 0" + std::to_string(mode >> 6) +
                         std::to_string((mode >> 3) & 7) + std::to_string(mode & 7));
    return {};
}

// A reader must see the -wal (the newest rows) and the -shm (the WAL's index)
// whenever they exist: without them SQLite reads the main file alone, and
// what is in the WAL silently goes missing.
Status check_companions_readable(const std::string& path) {
    for (const char* suffix : {"-wal", "-shm"}) {
        const std::string file = path + suffix;
        struct stat st{};
        std::string what = "database '";
        what.append(path).append("': cannot ");
        if (::stat(file.c_str(), &st) != 0) {
            const int e = errno;
            if (e == ENOENT) continue;
            what.append("stat '").append(file).append("'");
            return sys_error(what, e);
        }
        if (::faccessat(AT_FDCWD, file.c_str(), R_OK, AT_EACCESS) != 0) {
            const int e = errno;
            what.append("read '").append(file).append("', which holds its ");
            what.append(suffix[1] == 'w' ? "newest rows" : "WAL index");
            what.append(" (run as root or as a member of the group given to portwatch run/scan --db-group)");
            return sys_error(what, e);
        }
    }
    return {};
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
    // The companions before SQLite opens them: closing any fd of the -shm
    // later would drop this process's POSIX locks on it (SQLite's DMS lock).
    if (write) {
        PA_TRY(restrict_file(path, options.group, true));
        for (const char* suffix : {"-wal", "-shm"}) PA_TRY(restrict_file(path + suffix, options.group, false));
    } else PA_TRY(check_companions_readable(path));
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
        // One statement, one snapshot: another portwatch may be creating the
        // schema (tables and user_version in one transaction) right now.
        Stmt s(db_.get(), "SELECT count(*), (SELECT user_version FROM pragma_user_version) FROM sqlite_master");
        if (!s.ok() || s.step() != SQLITE_ROW) return db_error("cannot read the schema");
        if (s.i64(0) > 0 && s.i64(1) == 0)
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
        up.bind(1, rec.last_seen).bind(2, rec.pids).bind(3, capped(rec.comm)).bind(4, capped(rec.exe)).bind(5, capped(rec.cmdline));
        up.bind(6, capped(rec.user)).bind(7, capped(rec.entry)).bind(8, rec.id);
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
             "INSERT INTO events(kind, proto, addr, port, uid, user, pids, comm, exe, cmdline, entry, inode, first_seen, last_seen, action,"
             " action_result, count, identity)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)");
    if (!ins.ok()) return db_error("cannot record an event");
    ins.bind(1, rec.kind).bind(2, rec.proto).bind(3, rec.addr).bind(4, int64_t{rec.port}).bind(5, int64_t{rec.uid});
    ins.bind(6, capped(rec.user)).bind(7, rec.pids).bind(8, capped(rec.comm)).bind(9, capped(rec.exe)).bind(10, capped(rec.cmdline));
    ins.bind(11, capped(rec.entry)).bind(12, static_cast<int64_t>(rec.inode)).bind(13, rec.first_seen).bind(14, rec.last_seen);
    ins.bind(15, rec.action).bind(16, capped(rec.action_result)).bind(17, std::max<uint64_t>(rec.count, 1)).bind(18, rec.identity);
    if (ins.step() != SQLITE_DONE) return db_error("cannot record an event");
    rec.id = sqlite3_last_insert_rowid(db_.get());
    return {};
}

namespace {
// floor(ms / window): the window a refusal falls in, also before 1970.
int64_t window_of(int64_t ms) { return ms / kRefusalWindowMs - (ms % kRefusalWindowMs < 0 ? 1 : 0); }
}  // namespace

// The row this refusal joins: same key, first_seen in the same window; 0 for none.
Result<int64_t> Database::find_refusal(const EventRecord& rec) {
    Stmt find(db_.get(),
              "SELECT id FROM events WHERE kind=?1 AND uid=?2 AND proto=?3 AND addr=?4 AND port=?5 AND entry=?6 AND comm=?7"
              " AND first_seen >= ?8 AND first_seen < ?9 ORDER BY id DESC LIMIT 1");
    if (!find.ok()) return db_error("cannot look up a refusal");
    const int64_t w = window_of(rec.first_seen);
    const int64_t lo = w > INT64_MIN / kRefusalWindowMs ? w * kRefusalWindowMs : INT64_MIN;
    const int64_t hi = w < INT64_MAX / kRefusalWindowMs - 1 ? (w + 1) * kRefusalWindowMs : INT64_MAX;
    find.bind(1, rec.kind).bind(2, int64_t{rec.uid}).bind(3, rec.proto).bind(4, rec.addr).bind(5, int64_t{rec.port});
    find.bind(6, capped(rec.entry)).bind(7, capped(rec.comm)).bind(8, lo).bind(9, hi);
    const int rc = find.step();
    if (rc == SQLITE_DONE) return int64_t{0};
    if (rc != SQLITE_ROW) return db_error("cannot look up a refusal");
    return find.i64(0);
}

Status Database::record_refusals(std::vector<EventRecord>& batch) {
    if (batch.empty()) return {};
    PA_TRY(exec("BEGIN IMMEDIATE", "cannot record refusals"));
    TransactionGuard tx(db_.get());
    Stmt up(db_.get(),
            "UPDATE events SET count = CASE WHEN count > 9223372036854775807 - ?1 THEN 9223372036854775807 ELSE count + ?1 END,"
            " last_seen = max(last_seen, ?2), first_seen = min(first_seen, ?3) WHERE id = ?4");
    if (!up.ok()) return db_error("cannot record refusals");
    for (auto& rec : batch) {
        if (rec.kind != "refused" && rec.kind != "grant_miss")
            return logic_error("database '" + path_ + "': cannot record a refusal of kind '" + escape_untrusted(rec.kind, 40) + "'");
        rec.count = std::max<uint64_t>(rec.count, 1);
        if (rec.last_seen < rec.first_seen) rec.last_seen = rec.first_seen;
        auto id = find_refusal(rec);
        if (!id) return id.error();
        if (*id == 0) {
            PA_TRY(record_refused(rec));
            continue;
        }
        rec.id = *id;
        up.reset();
        up.bind(1, rec.count).bind(2, rec.last_seen).bind(3, rec.first_seen).bind(4, rec.id);
        if (up.step() != SQLITE_DONE) return db_error("cannot record refusals");
    }
    PA_TRY(exec("COMMIT", "cannot record refusals"));
    return {};
}

Status Database::save_stats(const WatchStats& st) {
    // last_drop_at moves when dropped grew, or started again from a smaller
    // number (the program was loaded anew) that is not 0.
    Stmt s(db_.get(),
           "INSERT INTO watch_stats(id, updated_at, delivered, suppressed, dropped, refusals_seen, rows_written, enforcement_active, last_drop_at)"
           " VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?4 > 0 THEN ?1 ELSE 0 END)"
           " ON CONFLICT(id) DO UPDATE SET updated_at=excluded.updated_at, delivered=excluded.delivered,"
           " suppressed=excluded.suppressed, refusals_seen=excluded.refusals_seen, rows_written=excluded.rows_written,"
           " enforcement_active=excluded.enforcement_active,"
           " last_drop_at = CASE WHEN excluded.dropped > watch_stats.dropped"
           "  OR (excluded.dropped < watch_stats.dropped AND excluded.dropped > 0) THEN excluded.updated_at ELSE watch_stats.last_drop_at END,"
           " dropped=excluded.dropped");
    if (!s.ok()) return db_error("cannot save the daemon's counters");
    s.bind(1, st.updated_at).bind(2, st.delivered).bind(3, st.suppressed).bind(4, st.dropped).bind(5, st.refusals_seen);
    s.bind(6, st.rows_written).bind(7, int64_t{st.enforcement_active ? 1 : 0});
    if (s.step() != SQLITE_DONE) return db_error("cannot save the daemon's counters");
    return {};
}

Result<std::optional<WatchStats>> Database::load_stats() {
    Stmt s(db_.get(),
           "SELECT updated_at, delivered, suppressed, dropped, refusals_seen, rows_written, enforcement_active, last_drop_at"
           " FROM watch_stats WHERE id = 1");
    if (!s.ok()) return db_error("cannot read the daemon's counters");
    const int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<WatchStats>{};
    if (rc != SQLITE_ROW) return db_error("cannot read the daemon's counters");
    // A crafted row reads as 0 where it holds no positive integer.
    auto count = [&](int c) { return s.type(c) == SQLITE_INTEGER && s.i64(c) > 0 ? static_cast<uint64_t>(s.i64(c)) : uint64_t{0}; };
    WatchStats st;
    st.updated_at = static_cast<int64_t>(count(0));
    st.delivered = count(1);
    st.suppressed = count(2);
    st.dropped = count(3);
    st.refusals_seen = count(4);
    st.rows_written = count(5);
    st.enforcement_active = count(6) != 0;
    st.last_drop_at = static_cast<int64_t>(count(7));
    return std::optional<WatchStats>{st};
}

Status Database::set_action(int64_t id, const std::string& action, const std::string& result) {
    Stmt up(db_.get(), "UPDATE events SET action=?1, action_result=?2 WHERE id=?3");
    if (!up.ok()) return db_error("cannot record an action");
    up.bind(1, action).bind(2, capped(result)).bind(3, id);
    if (up.step() != SQLITE_DONE) return db_error("cannot record an action");
    return {};
}

Result<std::vector<EventRecord>> Database::query(const EventQuery& q, std::vector<std::string>* unreadable) {
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
        auto row = read_row(s);
        if (row) out.push_back(std::move(row).value());
        else if (unreadable) unreadable->push_back(row.error().message());
    }
    if (rc != SQLITE_DONE) return db_error("cannot query events");
    return out;
}

Result<int64_t> Database::count(const std::string& kind, int64_t since) {
    // A crafted count (not a positive integer) counts as one event.
    Stmt s(db_.get(),
           "SELECT coalesce(sum(CASE WHEN typeof(count) = 'integer' AND count > 0 THEN count ELSE 1 END), 0)"
           " FROM events WHERE kind=?1 AND last_seen >= ?2");
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
