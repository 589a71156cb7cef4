// What a scan pass and a refused bind turn into: rows in the record, the
// configured action on new squatters, the alert hook. No logging: the
// outcomes come back for the tool to report.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "engine/events.hpp"
#include "policy/model.hpp"
#include "portwatch/actions.hpp"
#include "portwatch/scanner.hpp"
#include "portwatch/store.hpp"

namespace portauth::watch {

struct WatchSettings {
    Action action = Action::log;
    int grace_ms = 5000;                 // kill: SIGTERM to SIGKILL
    std::optional<std::string> exec;     // alert hook
    int hook_timeout_ms = 10000;
    int retention_days = kDefaultRetentionDays;
};

struct SquatOutcome {
    Squatter squatter;
    EventRecord record;
    bool is_new = false;
    std::optional<std::string> action_result;   // set when an action ran (new squats only)
    std::optional<Error> hook_error;
    std::optional<int> hook_status;
};

struct PassOutcome {
    ScanResult scan;
    std::vector<SquatOutcome> squats;
    int64_t pruned = 0;
};

// Records every squatter of `scan` (new rows, or last_seen moved), acts on
// the new ones (and on old ones that were only logged), runs the hook for new
// ones, prunes rows past retention.
Result<PassOutcome> handle_scan(Database& db, ScanResult scan, const WatchSettings& settings);

struct RefusalOutcome {
    EventRecord record;
    std::optional<Error> hook_error;
    std::optional<int> hook_status;
};
Result<RefusalOutcome> handle_refusal(Database& db, const RefusalEvent& event, const WatchSettings& settings);

struct ScanOptions;
// Checks and converts the command line's settings.
Result<WatchSettings> settings_from(const ScanOptions& o);

// The hook's environment for an event (PORTWATCH_KIND, _PROTO, _ADDR, _PORT,
// _UID, _USER, _PID, _COMM, _ENTRY, _ACTION, _ACTION_RESULT).
std::map<std::string, std::string> hook_environment(const EventRecord& rec);

// "udp/5060 uid 51001 (pid 1234)"
std::string describe(const EventRecord& rec);

}  // namespace portauth::watch
