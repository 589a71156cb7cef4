// portwatch's record: one SQLite database (WAL), one table of events.
//
// Schema versions (PRAGMA user_version), applied in order on open:
//   1  events(id, kind, proto, addr, port, uid, user, pids, comm, cmdline,
//      entry, inode, first_seen, last_seen, action, action_result)
//   2  adds events.exe and an index on last_seen
// A database newer than this program is refused, never downgraded.
//
// Times are milliseconds since the Unix epoch (UTC). An ongoing squat is one
// row, keyed by (kind, proto, addr, port, uid, inode); scans move its
// last_seen. Each refused bind is a row of its own.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace portauth::watch {

inline constexpr int kSchemaVersion = 2;
inline constexpr int kDefaultRetentionDays = 90;
inline constexpr int kMaxRetentionDays = 36500;
inline constexpr size_t kMaxReportRows = 1'000'000;   // report refuses to print more

struct EventRecord {
    int64_t id = 0;
    std::string kind;    // "squat" or "refused"
    std::string proto, addr;
    uint32_t port = 0;
    uint32_t uid = 0;
    std::string user;
    std::string pids;    // "1234" or "1234,1240"
    std::string comm, exe, cmdline, entry;
    uint64_t inode = 0;
    int64_t first_seen = 0, last_seen = 0;
    std::string action = "log", action_result;
};

struct EventQuery {
    std::optional<int64_t> since, until;   // on last_seen (since) and first_seen (until)
    std::optional<std::string> kind;
};

class Database {
public:
    // Opens (creating when `create`) and migrates to kSchemaVersion.
    static Result<Database> open(const std::string& path, bool create = true);

    // Inserts a new squat row or moves the last_seen of the ongoing one;
    // true when the row is new. Fills rec.id (and first_seen, action and
    // action_result from an old row).
    Result<bool> record_squat(EventRecord& rec);
    Status record_refused(EventRecord& rec);
    Status set_action(int64_t id, const std::string& action, const std::string& result);
    Result<std::vector<EventRecord>> query(const EventQuery& q);
    Result<int64_t> count(const std::string& kind, int64_t since);
    // Deletes rows whose last_seen is older than `before`; how many.
    Result<int64_t> prune(int64_t before);
    Result<int> schema_version();

private:
    struct Closer {
        void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
    };
    explicit Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    Status exec(const char* sql);
    Status migrate();
    Error db_error(const std::string& what) const;

    std::unique_ptr<sqlite3, Closer> db_;
    std::string path_;
};

int64_t now_ms();

}  // namespace portauth::watch
