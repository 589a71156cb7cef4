// Refused binds folded in memory between two writes to the database.
//
// The key is (kind, uid, proto, addr, port, entry, comm); each event counts
// 1 + suppressed (the refusals the kernel's rate limit folded into it), with
// first and last kernel times converted from CLOCK_BOOTTIME to epoch ms.
// take() hands out one row per key that saw refusals since the previous
// take(): the daemon writes them in one Database::record_refusals batch,
// which merges them into the key's row of the current window.
//
// The process (exe, cmdline) and user name are looked up once per key per
// window (kAggregationWindowMs), never per event. At most max_keys keys are
// known at once: past that, a new comm of an already known (kind, uid,
// proto, addr, port, entry) is folded into comm "(other)", so a process
// that renames itself at every bind cannot grow the table; `folded()` counts them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/events.hpp"
#include "portwatch/scanner.hpp"
#include "portwatch/store.hpp"

namespace portauth::watch {

inline constexpr int64_t kAggregationWindowMs = 60'000;   // store.hpp's kRefusalWindowMs
inline constexpr size_t kMaxAggregationKeys = 4096;
inline constexpr const char* kFoldedComm = "(other)";

struct RefusalLookups {
    std::function<ProcessInfo(uint32_t pid)> process;   // default: read_process(pid)
    std::function<std::string(uint32_t uid)> user;      // default: user_principal(uid).name
};

const char* refusal_kind_name(RefusalKind k);   // "refused", "grant_miss"

class RefusalAggregator {
public:
    explicit RefusalAggregator(RefusalLookups lookups = {}, int64_t window_ms = kAggregationWindowMs,
                               size_t max_keys = kMaxAggregationKeys);

    // Counts the event; `boot_to_epoch_ms` is epoch ms minus CLOCK_BOOTTIME
    // ms, now. Returns the key's record when the key is new in its window
    // (the caller logs it), else null.
    const EventRecord* add(const RefusalEvent& e, int64_t boot_to_epoch_ms);
    // The rows to write: each key's refusals since the previous take(), with
    // their count and first/last times. Forgets keys whose window is over.
    std::vector<EventRecord> take(int64_t now_ms);

    size_t keys() const { return known_.size(); }
    size_t pending_keys() const { return pending_; }
    uint64_t pending_refusals() const { return pending_refusals_; }
    uint64_t lookups() const { return lookups_; }
    uint64_t folded() const { return folded_; }

    // The string form of a key, also the hook's key.
    static std::string key_of(const EventRecord& r);

private:
    struct Known {
        EventRecord base;          // everything but count and times
        int64_t window_start = 0;  // epoch ms of the first refusal of this window
        int64_t last_seen = 0;
        // Since the previous take().
        uint64_t count = 0;
        int64_t first = 0, last = 0;
    };
    RefusalLookups lookups_fn_;
    int64_t window_ms_;
    size_t max_keys_;
    std::map<std::string, Known> known_;
    size_t pending_ = 0;
    uint64_t pending_refusals_ = 0, lookups_ = 0, folded_ = 0;
};

// Epoch ms minus CLOCK_BOOTTIME ms, now.
int64_t boot_to_epoch_ms();

}  // namespace portauth::watch
