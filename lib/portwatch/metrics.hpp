// portwatch's metrics file: Prometheus text format, written whole after each
// scan of `portwatch run --metrics-file PATH`.
//
// The file is written with write_file_atomically (common/atomic_file.hpp),
// mode 0644: a symlink planted at PATH is replaced, never followed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace portauth::watch {

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
    std::optional<uint32_t> policy_generation;   // set with an active policy
    std::optional<double> policy_age_seconds;
    // The kernel's counters per entry of the enforced policy, and the
    // squatters of the last scan per reservation; names come from files.
    struct EntryCounters {
        std::string entry;
        uint64_t allowed = 0, denied = 0;
    };
    std::vector<EntryCounters> entries;
    struct SquatterCount {
        std::string entry;
        Proto proto = Proto::tcp;
        uint16_t port = 0;
        uint64_t sockets = 0;
    };
    std::vector<SquatterCount> squatters_by_port;
};

// The proto and port labels of a policy entry's name: "reserve/udp/5060"
// gives udp and 5060, "reserve/tcp/6000-6099@::1" tcp and 6000-6099,
// "byport/!600" and "byaddr/::1,80" any (grants cover both) and the port,
// "byuid/1001:1 (0.0.0.0/0,8000-8099)" any and the line's ports; what does not
// parse gives "" (the entry label still names it).
struct EntryLabels {
    std::string proto, port;
};
EntryLabels entry_labels(const std::string& entry);

// A Prometheus label value: backslash, double quote and newline escaped as
// the text format says, and control bytes, bytes that are not UTF-8 and '%'
// itself as %HH (the format has no escape for them), so a hostile file name
// can neither end the value or the line nor make the file unparsable.
std::string label_value(const std::string& s);

std::string format_metrics(const Metrics& m);
// Atomically, as described at the top of this file.
Status write_metrics(const std::string& path, const Metrics& m);

}  // namespace portauth::watch
