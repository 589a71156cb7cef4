#include "portwatch/aggregate.hpp"

#include <time.h>

#include <algorithm>

#include "policy/spec.hpp"

namespace portauth::watch {

const char* refusal_kind_name(RefusalKind k) { return k == RefusalKind::grant_miss ? "grant_miss" : "refused"; }

int64_t boot_to_epoch_ms() {
    timespec real{}, boot{};
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    const int64_t r = int64_t{real.tv_sec} * 1000 + real.tv_nsec / 1'000'000;
    const int64_t b = int64_t{boot.tv_sec} * 1000 + boot.tv_nsec / 1'000'000;
    return r - b;
}

RefusalAggregator::RefusalAggregator(RefusalLookups lookups, int64_t window_ms, size_t max_keys)
    : lookups_fn_(std::move(lookups)), window_ms_(window_ms), max_keys_(max_keys) {
    if (!lookups_fn_.process) lookups_fn_.process = [](uint32_t pid) { return read_process(pid); };
    if (!lookups_fn_.user) lookups_fn_.user = [](uint32_t uid) { return user_principal(uid).name; };
}

std::string RefusalAggregator::key_of(const EventRecord& r) {
    std::string k;
    k.reserve(64);
    for (const std::string* s : {&r.kind, &r.proto, &r.addr, &r.entry, &r.comm}) k.append(*s).push_back('\0');
    k.append(std::to_string(r.uid)).push_back('\0');
    k.append(std::to_string(r.port));
    return k;
}

const EventRecord* RefusalAggregator::add(const RefusalEvent& e, int64_t boot_to_epoch_ms) {
    EventRecord r;
    r.kind = refusal_kind_name(e.kind);
    r.proto = proto_name(e.proto);
    r.addr = e.addr.str();
    r.port = e.port;
    r.uid = e.uid;
    r.entry = e.entry;
    r.comm = e.comm;
    const uint64_t n = 1 + uint64_t{e.suppressed};
    const int64_t last = static_cast<int64_t>(e.time_ns / 1'000'000) + boot_to_epoch_ms;
    const int64_t first = e.suppressed > 0 && e.window_start_ns > 0 && e.window_start_ns <= e.time_ns
                              ? static_cast<int64_t>(e.window_start_ns / 1'000'000) + boot_to_epoch_ms
                              : last;
    std::string key = key_of(r);
    auto it = known_.find(key);
    if (it == known_.end() && known_.size() >= max_keys_) {
        ++folded_;
        r.comm = kFoldedComm;
        key = key_of(r);
        it = known_.find(key);
    }
    const EventRecord* fresh = nullptr;
    if (it == known_.end() || last >= it->second.window_start + window_ms_) {
        // New key, or a new window for it: look the process and user up once.
        if (it == known_.end()) it = known_.emplace(std::move(key), Known{}).first;
        Known& k = it->second;
        k.base = r;
        k.base.pids = std::to_string(e.pid);
        if (r.comm != kFoldedComm) {
            auto p = lookups_fn_.process(e.pid);   // best effort: the process may be gone
            k.base.exe = p.exe;
            k.base.cmdline = p.cmdline;
        }
        k.base.user = lookups_fn_.user(e.uid);
        k.base.action = "log";
        k.window_start = first;
        ++lookups_;
        fresh = &k.base;
    }
    Known& k = it->second;
    if (k.count == 0) {
        ++pending_;
        k.first = first;
        k.last = last;
    }
    k.count += n;
    k.first = std::min(k.first, first);
    k.last = std::max(k.last, last);
    k.last_seen = std::max(k.last_seen, last);
    pending_refusals_ += n;
    return fresh;
}

std::vector<EventRecord> RefusalAggregator::take(int64_t now_ms) {
    std::vector<EventRecord> rows;
    rows.reserve(pending_);
    for (auto it = known_.begin(); it != known_.end();) {
        Known& k = it->second;
        if (k.count > 0) {
            EventRecord r = k.base;
            r.count = k.count;
            r.first_seen = k.first;
            r.last_seen = k.last;
            rows.push_back(std::move(r));
            k.count = 0;
        }
        if (now_ms >= k.window_start + window_ms_ && now_ms >= k.last_seen + window_ms_) it = known_.erase(it);
        else ++it;
    }
    pending_ = 0;
    pending_refusals_ = 0;
    return rows;
}

}  // namespace portauth::watch
