// portwatch's record: one SQLite database (WAL), one table of events.
//
// Schema versions (PRAGMA user_version), applied in order on open:
//   1  events(id, kind, proto, addr, port, uid, user, pids, comm, cmdline,
//      entry, inode, first_seen, last_seen, action, action_result)
//   2  adds events.exe and an index on last_seen
//   3  adds events.count (default 1) and events.identity, widens kind to
//      'squat', 'refused', 'grant_miss' (the table is rebuilt: SQLite cannot
//      alter a CHECK), an index on the refusal aggregation key, and the
//      table watch_stats (one row: the daemon's counters)
// A database newer than this program is refused, never downgraded.
//
// Times are milliseconds since the Unix epoch (UTC). An ongoing squat is one
// row, keyed by (kind, proto, addr, port, uid, inode); scans move its
// last_seen. Refused binds are aggregated (record_refusals): one row per
// (kind, uid, proto, addr, port, entry, comm) per kRefusalWindowMs window,
// with the number of refusals it stands for in `count`.
//
// Untrusted text (comm, exe, cmdline, user, entry, action_result) is stored
// as the watched process gave it, cut at kMaxUntrustedBytes (escape.hpp);
// query() reads every text column cut at that length too (in SQL, so a
// crafted 200 MB value is never copied), and a row whose numbers are not
// numbers (a crafted database) is left out and described, never an abort.
//
// Files: a database portwatch creates is mode 0640, whatever the umask,
// owned by root and OpenOptions::group (root's group without one); an
// existing one opened for writing is brought to that mode and group, and so
// are its -wal and -shm (SQLite gives the ones it creates the main file's
// mode and, as root, its owner). Opened for reading, a -wal or -shm the
// caller cannot read is an error: the newest rows may be in it.
//
// Errors name the database file and come in two kinds (record_damaged):
//   the system's: read-only file or file system, a directory where the -wal
//     cannot be created, a full disk, I/O errors, a lock held too long. They
//     carry the errno (EROFS, EACCES, ENOSPC, EIO, EBUSY...), also where
//     SQLite itself reports none, and may go away: callers keep watching.
//   the file's: not an SQLite database, damaged (a bad header, truncated,
//     pages that fail the integrity check), another program's database, a
//     newer schema. errno 0. portwatch never writes to such a file, never
//     replaces or deletes it: the admin moves it aside.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace portauth::watch {

inline constexpr int kSchemaVersion = 3;
inline constexpr int kDefaultRetentionDays = 90;
inline constexpr int kMaxRetentionDays = 36500;
inline constexpr size_t kMaxReportRows = 1'000'000;   // report refuses to print more
// Refusals of one key whose first_seen falls in the same window
// (first_seen / kRefusalWindowMs) share one row.
inline constexpr int64_t kRefusalWindowMs = 60'000;

struct EventRecord {
    int64_t id = 0;
    std::string kind;    // "squat", "refused" or "grant_miss"
    std::string proto, addr;
    uint32_t port = 0;
    uint32_t uid = 0;
    std::string user;
    std::string pids;    // "1234" or "1234,1240"
    std::string comm, exe, cmdline, entry;
    uint64_t inode = 0;
    int64_t first_seen = 0, last_seen = 0;
    std::string action = "log", action_result;
    // Schema 3. Refusals are aggregated: one row per (kind, uid, proto, addr,
    // port, entry, comm) per time window, `count` refusals in it; first_seen
    // and last_seen then come from the kernel's time of the first and last
    // refusal (CLOCK_BOOTTIME converted to the epoch). Squats: count 1.
    uint64_t count = 1;
    // Whose identity judged a squat: "binder" (recorded by the kernel at
    // bind(2)), "holder" (the processes holding the socket), "socket" (the
    // socket's uid, its creator's: neither of the others was known).
    std::string identity;
};

// The daemon's counters (`portwatch run`), one row in watch_stats. The kernel
// counters are cumulative since the BPF program was loaded.
struct WatchStats {
    int64_t updated_at = 0;   // ms; when run last saved them
    uint64_t delivered = 0;   // refusal events the kernel delivered
    uint64_t suppressed = 0;  // refusals the kernel folded into a later event (its rate limit)
    uint64_t dropped = 0;     // events the kernel could not deliver (ring buffer full)
    uint64_t refusals_seen = 0, rows_written = 0;
    bool enforcement_active = false;
    // ms; the last save that saw `dropped` grow (or start again after the
    // program was reloaded); 0 for never. Kept by save_stats itself: the
    // value passed in is ignored.
    int64_t last_drop_at = 0;
};

struct EventQuery {
    std::optional<int64_t> since, until;   // on last_seen (since) and first_seen (until)
    std::optional<std::string> kind;
};

// True for an error about the database file itself (see the top of this file).
inline bool record_damaged(const Error& e) { return e.err == 0; }

struct OpenOptions {
    // write (scan, run): created when missing; a file SQLite can only open
    //   read-only is an error.
    // read (report, check): must exist; read as it is when it cannot be
    //   written, as long as it needs no migration.
    enum class Access { read, write } access = Access::write;
    // PRAGMA quick_check before anything is written (run, at startup): finds
    // damaged pages that a read of the header and schema does not touch.
    bool check_integrity = false;
    // write: the group (gid) that may read the database (mode 0640); without
    // one, root's. Ignored for read.
    std::optional<uint32_t> group;
};

class Database {
public:
    // Opens, checks that the file is a portwatch record (or new and empty),
    // and migrates it to kSchemaVersion. Nothing is written to a file that
    // fails a check.
    static Result<Database> open(const std::string& path, OpenOptions options = {});

    // Inserts a new squat row or moves the last_seen of the ongoing one;
    // true when the row is new. Fills rec.id (and first_seen, action and
    // action_result from an old row).
    Result<bool> record_squat(EventRecord& rec);
    // One insert, kind as given (no aggregation).
    Status record_refused(EventRecord& rec);
    // One transaction for the whole batch. Each record (kind "refused" or
    // "grant_miss", count >= 1, first_seen/last_seen in ms) is added to the
    // row of the same (kind, uid, proto, addr, port, entry, comm) whose
    // first_seen falls in the same window (count added, last_seen moved),
    // else inserted. Fills each id.
    Status record_refusals(std::vector<EventRecord>& batch);
    Status save_stats(const WatchStats& stats);
    // nullopt when no `portwatch run` ever saved them (or the schema predates them).
    Result<std::optional<WatchStats>> load_stats();
    Status set_action(int64_t id, const std::string& action, const std::string& result);
    // Rows that cannot be read (numbers that are not numbers, out of range)
    // are left out; `unreadable`, when given, gets a line about each.
    Result<std::vector<EventRecord>> query(const EventQuery& q, std::vector<std::string>* unreadable = nullptr);
    // The events of `kind` last seen at or after `since`: the sum of count.
    Result<int64_t> count(const std::string& kind, int64_t since);
    // Deletes rows whose last_seen is older than `before`; how many.
    Result<int64_t> prune(int64_t before);
    Result<int> schema_version();
    const std::string& path() const { return path_; }

private:
    struct Closer {
        void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
    };
    explicit Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    Status exec(const char* sql, const char* what = nullptr);   // `what` names it in errors (default: the SQL)
    Status check_content(int version, bool check_integrity);
    Status migrate();
    Result<int64_t> find_refusal(const EventRecord& rec);
    // "database 'PATH': WHAT: SQLite's message", with the errno or the advice
    // that record_damaged promises.
    Error db_error(const std::string& what) const;

    std::unique_ptr<sqlite3, Closer> db_;
    std::string path_;
};

int64_t now_ms();

}  // namespace portauth::watch
