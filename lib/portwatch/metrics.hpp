// portwatch's metrics file: Prometheus text format, written whole after each
// scan of `portwatch run` (--metrics-file PATH; by default kTextfileDir's
// portwatch.prom when that directory exists, node_exporter's textfile
// collector as Debian's prometheus-node-exporter sets it up).
//
// The file is written with write_file_atomically (common/atomic_file.hpp),
// mode 0644 (node_exporter runs as the prometheus user): a symlink planted
// at PATH is replaced, never followed.
//
// Every family has its HELP and TYPE lines; counters end in _total; label
// values pass label_value(). Labelled families come whole or not at all:
// the per-entry kernel counters are left out when the engine cannot be read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace portauth {
struct EngineStatus;
struct Policy;
}

namespace portauth::watch {

// Where Debian's prometheus-node-exporter reads *.prom files (its README.textfile).
inline constexpr const char* kTextfileDir = "/var/lib/prometheus/node-exporter";
inline constexpr const char* kTextfileName = "portwatch.prom";
// The metrics file when --metrics-file is not given: DIR/portwatch.prom when
// `dir` (kTextfileDir) is a directory, else none (nothing is written).
std::optional<std::string> default_metrics_file(const std::string& dir = kTextfileDir);

struct Metrics {
    uint64_t squatters = 0;
    uint64_t refused_binds_total = 0;   // refusals seen: events delivered plus those the kernel folded into them
    double scan_duration_seconds = 0;
    uint64_t sockets_scanned = 0;
    bool record_writable = true;        // the last scan's writes to the database worked
    uint64_t record_errors_total = 0;   // failed opens and writes of the database since the start
    // The kernel's counters for the ring buffer of refusals (since it was loaded).
    uint64_t events_delivered_total = 0, events_suppressed_total = 0, events_dropped_total = 0;
    uint64_t refusals_recorded_total = 0;   // refusals counted in rows the database took
    uint64_t rows_written_total = 0;        // refusal rows sent to the database (each a key's window or part of it)
    uint64_t aggregation_keys = 0;          // refusal keys waiting in memory for the next write
    uint64_t hooks_run_total = 0, hooks_dropped_total = 0, hooks_timed_out_total = 0;
    double loop_lag_seconds = 0;            // how late the last scan started against its schedule
    std::optional<uint64_t> policy_disabled_entries;   // entries the loader disabled (unset: not known)
    struct DisabledEntry {
        std::string entry, reason;   // from the files: escaped as label values, never trusted
    };
    std::vector<DisabledEntry> disabled_entries;
    bool policy_tree_refused = false;   // watching the enforced policy because the tree is refused
    // From the engine at --pin-dir; unset when it cannot be read.
    std::optional<bool> enforcement_active, policy_fallback;
    std::optional<uint32_t> policy_generation;     // the generation enforcing (while active)
    std::optional<uint64_t> policy_applied_at;     // when it was applied, seconds since the epoch
    std::optional<double> policy_age_seconds;      // now minus that
    // The kernel's per-entry bind counters (what `portauth status` shows), with
    // the entry's protocol ("tcp", "udp", "any") and port ("80", "5060-5070")
    // from the policy; set (maybe empty) when the engine could be read.
    struct EntryBinds {
        std::string entry, proto, port;
        uint64_t allowed = 0, denied = 0;
    };
    std::optional<std::vector<EntryBinds>> entry_binds;
    // Squatting sockets at the last scan, by the reservation's entry and the socket's proto and port.
    struct SquatGroup {
        std::string entry, proto;
        uint16_t port = 0;
        uint64_t sockets = 0;
        friend auto operator<=>(const SquatGroup&, const SquatGroup&) = default;
    };
    std::vector<SquatGroup> squatters_by_entry;
    // Log and journal events not sent because their kind's budget was spent (journal_events.hpp's EventBudget).
    std::vector<std::pair<std::string, uint64_t>> log_events_suppressed;
};

// Fills enforcement_active, policy_fallback, policy_generation,
// policy_applied_at, policy_age_seconds and entry_binds from the engine's
// status; protocols and ports come from `policy` (the enforced one, or the
// watched one standing in for it), entries it does not name get "" for both.
void add_enforcement(Metrics& m, const EngineStatus& status, const Policy* policy, int64_t now_seconds);

// A Prometheus label value: backslash, double quote and newline escaped as
// the text format says, and control bytes, bytes that are not UTF-8 and '%'
// itself as %HH (the format has no escape for them), so a hostile file name
// can neither end the value or the line nor make the file unparsable.
std::string label_value(const std::string& s);

std::string format_metrics(const Metrics& m);
// Atomically, as described at the top of this file.
Status write_metrics(const std::string& path, const Metrics& m);

}  // namespace portauth::watch
