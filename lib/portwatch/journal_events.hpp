// portwatch's events as structured journal entries (docs/journal.md has the
// table): a squat found, a refused bind, an action taken, the database
// failing and working again, and what a budget held back. Each has its
// MESSAGE_ID (stable across releases), PORTAUTH_EVENT and PORTAUTH_* fields;
// MESSAGE is the line portwatch prints to stderr.
//
// Every string that came from a watched process or a file name (comm, exe,
// user, entry, action result) is escaped (common/escape.hpp) as in the log
// line, so the journal holds valid UTF-8 without control characters.
//
// A hostile bind() loop cannot flood the journal: refusals are said once per
// aggregation key and window (aggregate.hpp), and EventBudget bounds each
// kind of event to kEventsPerWindow a window; what it holds back is counted
// (the metrics' portwatch_log_events_suppressed_total) and said in one
// `suppressed` entry when the window ends. The database and the metrics still
// have everything.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/journal.hpp"
#include "portwatch/options.hpp"
#include "portwatch/watcher.hpp"

namespace portauth::watch {

// PORTAUTH_EVENT values.
inline constexpr const char* kEventSquat = "squat";
inline constexpr const char* kEventBindRefused = "bind-refused";
inline constexpr const char* kEventAction = "action";
inline constexpr const char* kEventDatabaseError = "database-error";
inline constexpr const char* kEventDatabaseRecovered = "database-recovered";
inline constexpr const char* kEventSuppressed = "suppressed";

inline constexpr size_t kEventsPerWindow = 100;
inline constexpr int64_t kEventWindowMs = 60'000;

// The MESSAGE_ID of a PORTAUTH_EVENT value (32 hex digits).
const char* watch_message_id(std::string_view event);

// A new squat, as log_pass says it.
WatchEvent squat_event(const SquatOutcome& o);
// The first refusal of a key in its window (aggregate.hpp); `recorded`: the database takes it.
WatchEvent refusal_event(const EventRecord& r, bool recorded);
// What an action did (destroy, kill), as it was seen afterwards.
WatchEvent action_event(const EventRecord& r, const std::string& action, const std::string& result);
// The database cannot be written (`what` says why, naming the file); `line` is the log line.
WatchEvent database_error_event(const std::string& db, const std::string& what, const std::string& line);
WatchEvent database_recovered_event(const std::string& db);
// `count` events of kind `event` held back in the window of `window_ms` that just ended.
WatchEvent suppressed_event(const std::string& event, uint64_t count, int64_t window_ms);

// At most `per_window` events of each kind per window of `window_ms`, a
// kind's window starting at its first event after the previous one ended.
class EventBudget {
public:
    explicit EventBudget(size_t per_window = kEventsPerWindow, int64_t window_ms = kEventWindowMs)
        : per_window_(per_window), window_ms_(window_ms) {}

    // True when this event may be said; else it is counted as suppressed.
    bool allow(const std::string& event, int64_t now_ms);
    // The kinds whose window has ended by `now_ms` with events held back,
    // each with how many: the caller says so, once (suppressed_event).
    std::vector<std::pair<std::string, uint64_t>> ended(int64_t now_ms);
    // Held back since the start, by kind.
    const std::map<std::string, uint64_t>& suppressed_total() const { return total_; }
    int64_t window_ms() const { return window_ms_; }

private:
    struct Window {
        int64_t start = 0;
        size_t said = 0;
        uint64_t held = 0;
    };
    // A window that has ended: what it held back goes to unreported_, a new one starts at now_ms.
    void roll(const std::string& event, Window& w, int64_t now_ms);

    size_t per_window_;
    int64_t window_ms_;
    std::map<std::string, Window> windows_;
    std::map<std::string, uint64_t> total_, unreported_;
};

// The tool's log: sends each event to the journal (common/journal.hpp, with
// `common` fields added, e.g. PORTAUTH_POLICY_DIR) and prints its line to
// `lines` unless the journal took it and stderr is the journal stream
// already (fd_is_journal_stream: under systemd it would be there twice).
class JournalLog : public WatchLog {
public:
    JournalLog(WatchLog& lines, std::string identifier)
        : lines_(lines), identifier_(std::move(identifier)), stderr_is_journal_(fd_is_journal_stream(2)) {}
    void set_common_fields(std::vector<JournalField> f) { common_ = std::move(f); }

    void debug(const std::string& line) override { lines_.debug(line); }
    void info(const std::string& line) override { lines_.info(line); }
    void warn(const std::string& line) override { lines_.warn(line); }
    void error(const std::string& line) override { lines_.error(line); }
    void event(const WatchEvent& e) override;

private:
    WatchLog& lines_;
    std::string identifier_;
    bool stderr_is_journal_;
    std::vector<JournalField> common_;
};

}  // namespace portauth::watch
