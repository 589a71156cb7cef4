// The kernel's refused binds, read from the pinned ring buffer (pin dir
// "events"). portwatch records them; tests read them to see what a user sees.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "engine/portauth-api.h"
#include "policy/model.hpp"

struct ring_buffer;

namespace portauth {

struct RefusalEvent {
    uint64_t time_ns = 0;      // CLOCK_BOOTTIME
    uint32_t pid = 0, tid = 0;
    uint32_t uid = 0, gid = 0;
    uint32_t rule = 0;
    uint32_t generation = 0;
    Proto proto = Proto::tcp;
    Address addr;
    uint16_t port = 0;
    std::string comm;
    std::string entry;         // the rule's entry, when its generation is still loaded; else empty
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
    Result<int> poll(int timeout_ms);
    // An epoll fd that becomes readable when events are waiting.
    int fd() const;

private:
    EventReader(std::string pin_dir, Handler handler) : pin_dir_(std::move(pin_dir)), handler_(std::move(handler)) {}
    static int on_sample(void* self, void* data, size_t size);
    std::string name_of(uint32_t rule, uint32_t generation);

    std::string pin_dir_;
    Handler handler_;
    ring_buffer* rb_ = nullptr;
    int map_fd_ = -1;
};

}  // namespace portauth
