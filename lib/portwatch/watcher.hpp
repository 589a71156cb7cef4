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
#include <set>
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
    std::optional<uint32_t> db_group;    // --db-group, resolved
};

// What this process did about an ongoing squat, by squat_key().
struct HandledSquat {
    int64_t first_seen = 0;
    std::string action = "log", action_result;
    int64_t id = 0;     // its row, when recorded
    int rounds = 0;     // actions taken on it so far
};
using SquatMemory = std::map<std::string, HandledSquat>;
// The record's key of a squat row: proto, addr, port, uid, socket inode.
std::string squat_key(const EventRecord& rec);

struct SquatOutcome {
    Squatter squatter;
    EventRecord record;
    bool is_new = false;     // not seen before: by the record, or by this process when it is not recorded
    bool recorded = false;   // the record has it
    // Set when an action ran in this pass (destroy: done; kill: wants_kill,
    // the caller runs the KillJob and records its result with set_action).
    std::optional<std::string> action_result;
    bool wants_kill = false;
    bool result_changed = false;   // action_result differs from the previous round's (log it)
};

struct PassOutcome {
    ScanResult scan;
    std::vector<SquatOutcome> squats;
    int64_t pruned = 0;
    // The first write to the record that failed; the pass wrote nothing more
    // after it. Unset when `db` was null (nothing was tried) or all went well.
    std::optional<Error> record_error;
};

// Records every squatter of `scan` (new rows, or last_seen moved) and acts
// on every one while it persists (each pass acts again, so a squat that
// survived destroy is killed once the action is kill), except those whose
// key is in `busy` (a kill still in progress). Destroy is done here; kill is
// left to the caller (SquatOutcome::wants_kill). Prunes rows past retention.
// `db` may be null: nothing is recorded. `memory` holds the previous pass's
// squats and is replaced by this one's. No hooks run here: the caller
// submits them for new squats once the action's result is known.
PassOutcome handle_scan(Database* db, ScanResult scan, const WatchSettings& settings, SquatMemory& memory,
                        const std::set<std::string>& busy = {});

// A kill's result is in: into the row and the memory.
Status record_action(Database* db, SquatMemory& memory, const std::string& key, const std::string& action, const std::string& result);

struct ScanOptions;
struct RunOptions;
// Checks and converts the command line's settings: the one place their
// values are checked (the tool's parser only converts types), so every caller
// and the tests refuse the same values with the same words. A refusal names
// the option and the value: "--grace 3601: out of range 0-3600".
// --db-group is resolved here, once.
Result<WatchSettings> settings_from(const ScanOptions& o);
// run's: those of scan, and --interval (kMinIntervalSeconds-kMaxIntervalSeconds).
Result<WatchSettings> settings_from(const RunOptions& o);

// The hook's environment for an event (PORTWATCH_KIND, _PROTO, _ADDR, _PORT,
// _UID, _USER, _PID, _COMM, _EXE, _ENTRY, _ACTION, _ACTION_RESULT,
// _IDENTITY, _FIRST_SEEN, _LAST_SEEN; the runner adds _COUNT). Every string
// that came from the watched process is escaped (common/escape.hpp).
std::map<std::string, std::string> hook_environment(const EventRecord& rec);

// "udp/5060 uid 51001 (pid 1234)"
std::string describe(const EventRecord& rec);

// Seconds as messages write them, as short as the value allows: 0.1, 30, 1e+06.
std::string seconds_text(double seconds);

}  // namespace portauth::watch
