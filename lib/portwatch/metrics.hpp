// portwatch's metrics file: Prometheus text format, written whole after each
// scan of `portwatch run --metrics-file PATH`.
//
// The file is created as if an attacker owned its directory: a random
// temporary made there with O_TMPFILE (linked in with linkat) or, where the
// file system lacks it, O_CREAT|O_EXCL|O_NOFOLLOW under a random name; mode
// 0644 set explicitly (the umask plays no part); fsync; rename over PATH. A
// symlink planted at PATH or at any temporary name is replaced, never
// followed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"

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
};

std::string format_metrics(const Metrics& m);
// Atomically, as described at the top of this file.
Status write_metrics(const std::string& path, const Metrics& m);
// The same for any text (the metrics file's writer, shared with tests).
Status write_file_atomically(const std::string& path, const std::string& text, unsigned mode = 0644);

}  // namespace portauth::watch
