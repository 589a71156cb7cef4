// What portwatch's passes and daemon are asked to do, and the exit statuses
// they answer with. tools/portwatch/main.cpp parses the command line into
// these structs (tools/portwatch/commands.hpp: the subcommands).
//
// Exit statuses (stable, documented in portwatch(8)):
//   scan:   0 no squatters, 1 squatters found, 2 error (also usage)
//   check:  0 OK, 1 WARNING (the kernel dropped events in the last 24 h; the
//           enforced policy is a fallback, the tree is refused, entries are
//           disabled), 2 CRITICAL (squatters now), 3 UNKNOWN (error, also usage, or a
//           database it cannot read whole: -wal or -shm unreadable)
//   report: 0 done, 2 error
//   run:    0 stopped by SIGTERM/SIGINT, 2 error
// A database that cannot be written does not stop scan or run (squatters
// are still found, acted on and logged; scan then exits 1 with squatters,
// else 2); a damaged one, or another program's, stops them before they
// start (2), and is never written to (store.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/journal.hpp"

namespace portauth::watch {

inline constexpr int kExitClean = 0;
inline constexpr int kExitSquatters = 1;
inline constexpr int kExitError = 2;
inline constexpr int kCheckOk = 0, kCheckWarning = 1, kCheckCritical = 2, kCheckUnknown = 3;

inline constexpr const char* kDefaultDb = "/var/lib/portwatch/portwatch.db";
inline constexpr double kMinIntervalSeconds = 0.1;
inline constexpr int kMaxIntervalSeconds = 86400;

struct ScanOptions {
    std::string policy_dir;
    std::string db = kDefaultDb;
    std::string action = "log";
    int grace_seconds = 5;
    std::optional<std::string> exec;
    int hook_timeout_seconds = 10;
    int retention_days = 90;
    std::optional<std::string> db_group;   // --db-group: name or gid, resolved once
};

struct RunOptions {
    ScanOptions scan;
    double interval_seconds = 30;
    std::string pin_dir;
    std::optional<std::string> metrics_file;
};

struct ReportOptions {
    std::string db = kDefaultDb;
    std::optional<std::string> since, until, kind;
    std::string format = "table";
    bool stats = false;   // --stats: a summary and the daemon's counters instead of the rows
};

struct CheckOptions {
    std::string policy_dir;
    std::string db = kDefaultDb;
};

// An event worth a structured journal entry (journal_events.hpp makes them):
// the line stderr has, at its priority, with MESSAGE_ID, PORTAUTH_EVENT and
// the event's PORTAUTH_* fields.
struct WatchEvent {
    Priority priority = Priority::info;
    std::string event;     // PORTAUTH_EVENT
    std::string message;   // the log line, escaped where it was made
    std::vector<JournalField> fields;
};

// Where the library's daemon and passes log (the tool gives spdlog and the
// journal, journal_events.hpp's JournalLog; tests may capture).
struct WatchLog {
    virtual ~WatchLog() = default;
    virtual void debug(const std::string& line) = 0;
    virtual void info(const std::string& line) = 0;
    virtual void warn(const std::string& line) = 0;
    virtual void error(const std::string& line) = 0;
    // By default the message alone, at its priority's level.
    virtual void event(const WatchEvent& e);
};

}  // namespace portauth::watch
