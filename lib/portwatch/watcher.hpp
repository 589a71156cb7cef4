// What a scan pass and a refused bind turn into: rows in the record, the
// configured action on new squatters, the alert hook. No logging: the
// outcomes come back for the tool to report.
//
// The record may be missing (it could not be opened) or fail to write (a
// read-only file, a full disk): the pass goes on all the same - squatters
// are found, acted on and reported - and says what could not be recorded.
// What was new and what was acted on then comes from the SquatMemory of the
// previous pass, so an outage neither repeats actions and alerts at every
// scan nor forgets them when the record works again.
#pragma once

#include <cstdint>
#include <map>
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

// What this process did about an ongoing squat, by squat_key().
struct HandledSquat {
    int64_t first_seen = 0;
    std::string action = "log", action_result;
};
using SquatMemory = std::map<std::string, HandledSquat>;
// The record's key of a squat row: proto, addr, port, uid, socket inode.
std::string squat_key(const EventRecord& rec);

struct SquatOutcome {
    Squatter squatter;
    EventRecord record;
    bool is_new = false;     // not seen before: by the record, or by this process when it is not recorded
    bool recorded = false;   // the record has it
    std::optional<std::string> action_result;   // set when an action ran (new squats only)
    std::optional<Error> hook_error;
    std::optional<int> hook_status;
};

struct PassOutcome {
    ScanResult scan;
    std::vector<SquatOutcome> squats;
    int64_t pruned = 0;
    // The first write to the record that failed; the pass wrote nothing more
    // after it. Unset when `db` was null (nothing was tried) or all went well.
    std::optional<Error> record_error;
};

// Records every squatter of `scan` (new rows, or last_seen moved), acts on
// the new ones (and on old ones that were only logged), runs the hook for new
// ones, prunes rows past retention. `db` may be null: nothing is recorded.
// `memory` holds the previous pass's squats and is replaced by this one's.
PassOutcome handle_scan(Database* db, ScanResult scan, const WatchSettings& settings, SquatMemory& memory);

struct RefusalOutcome {
    EventRecord record;
    bool recorded = false;
    std::optional<Error> record_error;
    std::optional<Error> hook_error;
    std::optional<int> hook_status;
};
RefusalOutcome handle_refusal(Database* db, const RefusalEvent& event, const WatchSettings& settings);

struct ScanOptions;
// Checks and converts the command line's settings.
Result<WatchSettings> settings_from(const ScanOptions& o);

// The hook's environment for an event (PORTWATCH_KIND, _PROTO, _ADDR, _PORT,
// _UID, _USER, _PID, _COMM, _ENTRY, _ACTION, _ACTION_RESULT).
std::map<std::string, std::string> hook_environment(const EventRecord& rec);

// "udp/5060 uid 51001 (pid 1234)"
std::string describe(const EventRecord& rec);

}  // namespace portauth::watch
