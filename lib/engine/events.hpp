// The kernel's refused binds, read from the pinned ring buffer (pin dir
// "events"). portwatch records them; tests read them to see what a user sees.
//
// The kernel rate-limits per key (kind, uid, proto, port, rule): at most one
// record per key per PA_EVENT_WINDOW_NS; what it folded arrives as
// `suppressed` (with `window_start_ns`) in the key's next record, and every
// refusal is counted in the pinned per-CPU "event_stats" (see stats()).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/fd.hpp"
#include "common/result.hpp"
#include "engine/portauth-api.h"
#include "policy/model.hpp"

struct ring_buffer;

namespace portauth {

enum class RefusalKind {
    reservation,   // a reservation refused the bind (PA_EVENT_RESERVATION)
    grant_miss,    // a grant entry exists but did not grant, and the kernel refuses (PA_EVENT_GRANT_MISS)
};

struct RefusalEvent {
    RefusalKind kind = RefusalKind::reservation;
    uint64_t time_ns = 0;      // CLOCK_BOOTTIME of this refusal
    uint32_t pid = 0, tid = 0;
    uint32_t uid = 0, gid = 0;
    uint32_t rule = 0;
    uint32_t generation = 0;
    uint32_t suppressed = 0;        // refusals of the same key folded since its previous record
    uint64_t window_start_ns = 0;   // CLOCK_BOOTTIME of the first of them (0 when suppressed == 0)
    Proto proto = Proto::tcp;
    Address addr;
    uint16_t port = 0;
    std::string comm;
    std::string entry;         // the rule's entry, when its generation is still loaded; else empty
};

// What the kernel did with refusals, summed over CPUs, since the first apply
// (the pinned "event_stats" is kept across applies). Every refusal counts in
// exactly one: delivered + suppressed + dropped == refusals.
struct EventStats {
    uint64_t delivered = 0;    // written to the ring buffer
    uint64_t suppressed = 0;   // folded by the rate limit (reported later in `suppressed`)
    uint64_t dropped = 0;      // lost: the ring buffer was full
};

// Decodes one ring buffer record; an error for a record of the wrong size or
// with impossible fields (no trust in what arrives over the buffer).
Result<RefusalEvent> decode_event(const void* data, size_t size);

class EventReader {
public:
    using Handler = std::function<void(const RefusalEvent&)>;

    static Result<std::unique_ptr<EventReader>> open(const std::string& pin_dir, Handler handler);
    ~EventReader();
    EventReader(const EventReader&) = delete;
    EventReader& operator=(const EventReader&) = delete;

    // Waits up to timeout_ms for events and hands each to the handler; returns how many.
    // Unbounded: a flood keeps it busy; a daemon uses fd() and consume().
    Result<int> poll(int timeout_ms);
    // Does not wait: hands at most `budget` waiting records to the handler and
    // returns how many it handed; the rest stay in the buffer for the next call.
    Result<int> consume(int budget);
    // An epoll fd that becomes readable when events are waiting.
    int fd() const;
    // The kernel's counts, summed over CPUs.
    Result<EventStats> stats() const;

private:
    EventReader(std::string pin_dir, Handler handler) : pin_dir_(std::move(pin_dir)), handler_(std::move(handler)) {}
    static int on_sample(void* self, void* data, size_t size);
    std::string name_of(uint32_t rule, uint32_t generation);
    bool load_generation(uint32_t generation);

    std::string pin_dir_;
    Handler handler_;
    ring_buffer* rb_ = nullptr;
    Fd map_fd_;
    Fd stats_fd_;
    // Records the current consume() may still hand out, and how many it did.
    int budget_left_ = 0;
    int handed_ = 0;
    // The rule names of one generation: its rule_names map, opened once, and
    // the names already looked up in it.
    uint32_t names_generation_ = 0;
    Fd names_fd_;
    std::unordered_map<uint32_t, std::string> names_;
};

}  // namespace portauth
